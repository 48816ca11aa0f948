//! A bounded map whose writes overwrite, for records that CXone lets a later call replace
//! (a custom event of the same name, a contact started again).

use std::{
    collections::{BTreeMap, HashMap},
    hash::Hash,
};

/// A map of at most `capacity` entries that evicts the least recently written one.
///
/// Each write takes a fresh sequence number, and `order` maps sequence numbers back to keys,
/// so both eviction and overwriting are O(log n) rather than a scan.
#[derive(Debug)]
pub(crate) struct RecentMap<K, V> {
    entries: HashMap<K, (u64, V)>,
    order: BTreeMap<u64, K>,
    next_seq: u64,
    capacity: usize,
}

impl<K: Eq + Hash + Clone, V> RecentMap<K, V> {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            entries: HashMap::new(),
            order: BTreeMap::new(),
            next_seq: 0,
            capacity: capacity.max(1),
        }
    }

    pub(crate) fn get(&self, key: &K) -> Option<&V> {
        self.entries.get(key).map(|(_, value)| value)
    }

    /// Writes `value` under `key`, replacing (and renewing) any earlier value.
    pub(crate) fn insert(&mut self, key: K, value: V) {
        self.remove(&key);
        while self.entries.len() >= self.capacity {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            self.entries.remove(&oldest);
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.order.insert(seq, key.clone());
        self.entries.insert(key, (seq, value));
    }

    pub(crate) fn remove(&mut self, key: &K) -> Option<V> {
        let (seq, value) = self.entries.remove(key)?;
        self.order.remove(&seq);
        Some(value)
    }

    /// Entries oldest write first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.order.values().filter_map(|key| {
            let (_, value) = self.entries.get(key)?;
            Some((key, value))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overwrites_renew_and_the_least_recently_written_is_evicted() {
        let mut map = RecentMap::new(2);
        map.insert("a", 1);
        map.insert("b", 2);
        map.insert("a", 3);
        map.insert("c", 4);
        assert_eq!(
            (map.get(&"a"), map.get(&"b"), map.get(&"c")),
            (Some(&3), None, Some(&4))
        );
        let written: Vec<_> = map.iter().map(|(key, value)| (*key, *value)).collect();
        assert_eq!(written, [("a", 3), ("c", 4)]);
        assert_eq!((map.remove(&"a"), map.remove(&"a")), (Some(3), None));
        assert_eq!(map.iter().count(), 1);
    }
}
