//! Every ledger test is written once, over `Arc<dyn PromptStore>`, and run against SQLite
//! (a fresh file per test) and, when `TEST_DATABASE_URL` is set, PostgreSQL (a fresh schema
//! per test).

mod batch;
mod fixtures;
mod harness;
mod key_owners;
mod keys;
mod leases;
mod migrations;
mod queue;
mod records;
mod retries;
mod stalls;
mod stats;
mod tenant_references;

/// For each name, a module with a `sqlite` and a `postgres` test running that function.
macro_rules! store_tests {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    crate::store::tests::harness::on_sqlite(super::$name).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    crate::store::tests::harness::on_postgres(super::$name).await;
                }
            }
        )*
    };
}
pub(crate) use store_tests;
