//! Multi-row statements, written once for every chunk size a group commit sends.
//!
//! Rows are sent in chunks whose sizes are powers of two (a batch of 23 is 16 + 4 + 2 + 1).
//! That bounds the distinct statements to a handful per table, so every one of them stays
//! prepared: parsing a statement with hundreds of parameters costs more than running it.

/// The largest chunk, a power of two: 64 records are 1344 bound values, far below SQLite's
/// 32766, and the biggest statement kept prepared stays small.
pub(super) const MAX_ROWS: usize = 64;

/// `items` in chunks of power-of-two sizes, largest first, none over [`MAX_ROWS`].
pub(super) fn chunks<T>(mut items: &[T]) -> impl Iterator<Item = &[T]> {
    std::iter::from_fn(move || {
        if items.is_empty() {
            return None;
        }
        let size = (1 << items.len().ilog2()).min(MAX_ROWS);
        let (chunk, rest) = items.split_at(size);
        items = rest;
        Some(chunk)
    })
}

/// One statement's SQL for each chunk size: 1, 2, 4, ... [`MAX_ROWS`] rows.
pub(super) struct MultiRow {
    by_size: Vec<String>,
}

impl MultiRow {
    pub(super) fn new(sql: impl Fn(usize) -> String) -> Self {
        let sizes = MAX_ROWS.ilog2() + 1;
        Self {
            by_size: (0..sizes).map(|power| sql(1 << power)).collect(),
        }
    }

    /// The SQL for `rows` rows; `rows` is a size that [`chunks`] makes.
    pub(super) fn sql(&self, rows: usize) -> &str {
        debug_assert!(rows.is_power_of_two() && rows <= MAX_ROWS);
        &self.by_size[rows.ilog2() as usize]
    }
}

/// `item` `n` times, comma-separated.
pub(super) fn repeat(item: &str, n: usize) -> String {
    vec![item; n].join(", ")
}

/// A one-row `INSERT ... VALUES ($1, ..., $n) [tail]` split so it can be written for any
/// number of rows, with positional parameters.
pub(super) struct Template {
    head: String,
    /// The row with `?` for each `$n`, its constants (`0` for a new job's attempts) kept.
    row: String,
    tail: String,
}

impl Template {
    pub(super) fn of(single: &str) -> Self {
        let (head, rest) = single.split_once("VALUES").unwrap_or((single, ""));
        let open = rest.find('(').unwrap_or(0);
        let close = rest.find(')').map_or(rest.len(), |i| i + 1);
        let mut row = String::with_capacity(close - open);
        let mut chars = rest[open..close].chars().peekable();
        while let Some(c) = chars.next() {
            if c == '$' {
                while chars.peek().is_some_and(char::is_ascii_digit) {
                    chars.next();
                }
                row.push('?');
            } else {
                row.push(c);
            }
        }
        Self {
            head: format!("{head}VALUES "),
            row,
            tail: rest[close..].to_owned(),
        }
    }

    pub(super) fn rows(&self, rows: usize) -> String {
        format!("{}{}", self.rows_without_tail(rows), self.tail)
    }

    /// Without what follows the values (`ON CONFLICT ...`).
    pub(super) fn rows_without_tail(&self, rows: usize) -> String {
        format!("{}{}", self.head, repeat(&self.row, rows))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_row_insert_becomes_a_multi_row_one() {
        let insert =
            Template::of("INSERT INTO t (a, b, c) VALUES ($1, $2, 0) ON CONFLICT DO NOTHING");
        assert_eq!(
            insert.rows(3),
            "INSERT INTO t (a, b, c) VALUES (?, ?, 0), (?, ?, 0), (?, ?, 0) ON CONFLICT DO NOTHING"
        );
        assert_eq!(
            insert.rows_without_tail(2),
            "INSERT INTO t (a, b, c) VALUES (?, ?, 0), (?, ?, 0)"
        );
    }

    #[test]
    fn rows_go_in_power_of_two_chunks_in_order() {
        let items: Vec<usize> = (0..151).collect();
        let sizes: Vec<usize> = chunks(&items).map(<[usize]>::len).collect();
        assert_eq!(sizes, [64, 64, 16, 4, 2, 1]);
        let again: Vec<usize> = chunks(&items).flatten().copied().collect();
        assert_eq!(again, items);
        assert_eq!(chunks::<usize>(&[]).count(), 0);
    }
}
