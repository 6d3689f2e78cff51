//! The test harness shared by the store's test files: a store on SQLite in a temporary
//! directory or on a fresh PostgreSQL database, and a macro that runs a test on both.
#![allow(dead_code)]

use breakwater_store::Store;

pub const PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

enum Cleanup {
    Dir(#[allow(dead_code)] tempfile::TempDir),
    Postgres { db: String },
}

pub struct Harness {
    pub store: Store,
    pub url: String,
    cleanup: Cleanup,
    finished: bool,
}

impl Drop for Harness {
    /// A failed test does not reach `finish`: drop its PostgreSQL database anyway.
    fn drop(&mut self) {
        if let (false, Cleanup::Postgres { db }) = (self.finished, &self.cleanup) {
            let db = db.clone();
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                if let Ok(rt) = rt {
                    rt.block_on(async {
                        if let Ok(admin) = sqlx::PgPool::connect(PG_ADMIN_URL).await {
                            let sql = format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)");
                            let _ = sqlx::query(&sql).execute(&admin).await;
                        }
                    });
                }
            })
            .join();
        }
    }
}

impl Harness {
    pub async fn sqlite() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("breakwater-data").join("breakwater.db");
        let url = path.to_str().unwrap().to_string();
        let store = Store::open(&url).await.unwrap();
        Harness {
            store,
            url,
            cleanup: Cleanup::Dir(dir),
            finished: false,
        }
    }

    pub async fn postgres() -> Harness {
        let mut raw = [0u8; 6];
        getrandom::getrandom(&mut raw).unwrap();
        let db = format!("bw_test_{}", hex::encode(raw));
        let admin = sqlx::PgPool::connect(PG_ADMIN_URL)
            .await
            .expect("PostgreSQL must be reachable at 127.0.0.1:5432 for these tests");
        sqlx::query(&format!("CREATE DATABASE {db}"))
            .execute(&admin)
            .await
            .unwrap();
        admin.close().await;
        let url = format!("postgres://postgres@127.0.0.1:5432/{db}");
        let store = Store::open(&url).await.unwrap();
        Harness {
            store,
            url,
            cleanup: Cleanup::Postgres { db },
            finished: false,
        }
    }

    /// Runs raw SQL on the database behind the store, as an attacker or operator would.
    pub async fn raw(&self, sql: &str) -> u64 {
        match &self.cleanup {
            Cleanup::Dir(_) => {
                let options = sqlx::sqlite::SqliteConnectOptions::new().filename(&self.url);
                let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
                let n = sqlx::query(sql)
                    .execute(&pool)
                    .await
                    .unwrap()
                    .rows_affected();
                pool.close().await;
                n
            }
            Cleanup::Postgres { .. } => {
                let pool = sqlx::PgPool::connect(&self.url).await.unwrap();
                let n = sqlx::query(sql)
                    .execute(&pool)
                    .await
                    .unwrap()
                    .rows_affected();
                pool.close().await;
                n
            }
        }
    }

    pub async fn finish(mut self) {
        self.finished = true;
        self.store.close().await;
        if let Cleanup::Postgres { db } = &self.cleanup {
            let admin = sqlx::PgPool::connect(PG_ADMIN_URL).await.unwrap();
            sqlx::query(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
                .execute(&admin)
                .await
                .unwrap();
            admin.close().await;
        }
    }
}

macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let h = crate::common::Harness::sqlite().await;
                    super::$name(&h).await;
                    h.finish().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let h = crate::common::Harness::postgres().await;
                    super::$name(&h).await;
                    h.finish().await;
                }
            )*
        }
    };
}
