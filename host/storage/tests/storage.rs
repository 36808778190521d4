//! The same behaviour on the local filesystem and on S3 (moto's server on
//! 127.0.0.1; its bucket is made with a plain HTTP PUT).

use bytes::Bytes;
use object_store::path::Path;
use trace_storage::paths::{operator_path, partition_path, staged_by, staging_path, version_prefix};
use trace_storage::{OperatorDigests, Partition, S3Config, Storage, StorageError};

const DATASET: &str = "0b5e6a1c-3f4d-4e2a-9c8b-7d6e5f4a3b2c";
const V1: &str = "11111111-2222-4333-8444-555555555555";
const V2: &str = "66666666-7777-4888-9999-aaaaaaaaaaaa";

async fn on_s3(moto: &trace_testbed::Moto, bucket: &str) -> Storage {
    let created = reqwest::Client::new().put(format!("{}/{bucket}", moto.endpoint())).send().await.unwrap();
    assert!(created.status().is_success(), "creating bucket {bucket}: {}", created.status());
    let config = S3Config {
        endpoint: Some(moto.endpoint()),
        region: "us-east-1".into(),
        access_key_id: "test".into(),
        secret_access_key: "test".into(),
    };
    Storage::open(&format!("s3://{bucket}"), Some(&config)).unwrap()
}

macro_rules! on_both {
    ($name:ident) => {
        mod $name {
            #[tokio::test]
            async fn local() {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("file://{}", dir.path().join("objects").display());
                super::$name(trace_storage::Storage::open(&url, None).unwrap()).await;
            }

            #[tokio::test]
            async fn s3() {
                let moto = trace_testbed::moto();
                super::$name(super::on_s3(&moto, stringify!($name).replace('_', "-").as_str()).await).await;
            }
        }
    };
}

#[test]
fn paths_are_built_from_ids_only() {
    let range = Partition::Range { start: 17_000_000, end: 17_010_000 };
    assert_eq!(
        partition_path(7, DATASET, V1, &range).unwrap().to_string(),
        format!("org/7/dataset/{DATASET}/version/{V1}/17000000_17010000.parquet")
    );
    let keyed = partition_path(7, DATASET, V1, &Partition::Key("0xA0b8…/USDC".into())).unwrap().to_string();
    assert!(keyed.starts_with(&format!("org/7/dataset/{DATASET}/version/{V1}/key_")) && keyed.ends_with(".parquet"), "{keyed}");
    assert_eq!(keyed.len(), format!("org/7/dataset/{DATASET}/version/{V1}/key_.parquet").len() + 64, "the key is hashed, not embedded");
    assert_eq!(staging_path(7, 42, 3, 1, &range).to_string(), "org/7/staging/task/42/attempt/3/output/1/17000000_17010000.parquet");
    // The janitor reads the writer back from a staging path, of its org only.
    assert_eq!(staged_by(7, &staging_path(7, 42, 3, 1, &range)), Some((42, 3)));
    assert_eq!(staged_by(8, &staging_path(7, 42, 3, 1, &range)), None);
    for odd in ["org/7/staging/task/x/attempt/3/a", "org/7/staging/task/42/try/3/a", "org/7/staging/task/42", "org/7/dataset/42"] {
        assert_eq!(staged_by(7, &odd.into()), None, "{odd}");
    }
    // An append job's task adds its own file beside the range's others.
    let appended = Partition::Appended { to: Box::new(range.clone()), task: 42 };
    assert_eq!(
        partition_path(7, DATASET, V1, &appended).unwrap().to_string(),
        format!("org/7/dataset/{DATASET}/version/{V1}/17000000_17010000.t42.parquet")
    );
    let keyed_append = partition_path(7, DATASET, V1, &Partition::Appended { to: Box::new(Partition::Key("k".into())), task: 9 }).unwrap().to_string();
    assert!(keyed_append.ends_with(".t9.parquet") && keyed_append.contains("/key_"), "{keyed_append}");
    // Anything but a canonical UUID is refused: no names, no traversal.
    for bad in ["erc20_transfers", "../../etc", "0B5E6A1C-3F4D-4E2A-9C8B-7D6E5F4A3B2C", ""] {
        assert!(matches!(partition_path(7, bad, V1, &range), Err(StorageError::BadId { what: "dataset uuid", .. })), "{bad:?}");
    }
    assert!(matches!(operator_path("abc"), Err(StorageError::BadId { .. })));
    assert!(matches!(Storage::open("file://relative/path", None), Err(StorageError::BadUrl { .. })));
    assert!(matches!(Storage::open("s3://bucket/prefix", None), Err(StorageError::BadUrl { .. })));
    assert!(matches!(Storage::open("gs://bucket", None), Err(StorageError::BadUrl { .. })));
}

async fn objects_round_trip_within_their_bound(s: Storage) {
    let path = partition_path(1, DATASET, V1, &Partition::Range { start: 0, end: 10 }).unwrap();
    assert!(!s.exists(&path).await.unwrap());
    assert!(matches!(s.get(&path, 100).await, Err(StorageError::NotFound { .. })));
    s.put(&path, Bytes::from_static(b"0123456789")).await.unwrap();
    assert_eq!(s.get(&path, 10).await.unwrap(), Bytes::from_static(b"0123456789"));
    let err = s.get(&path, 9).await.unwrap_err();
    assert!(err.to_string().ends_with("is too large to read: got=10 bytes, limit=9 bytes"), "{err}");
}
on_both!(objects_round_trip_within_their_bound);

async fn promoting_a_retry_lands_on_the_same_key(s: Storage) {
    let part = Partition::Range { start: 100, end: 200 };
    let fin = partition_path(1, DATASET, V1, &part).unwrap();
    let first = staging_path(1, 9, 1, 0, &part);
    let retry = staging_path(1, 9, 2, 0, &part);
    s.put(&first, Bytes::from_static(b"attempt 1")).await.unwrap();
    s.put(&retry, Bytes::from_static(b"attempt 2")).await.unwrap();
    assert!(!s.exists(&fin).await.unwrap(), "nothing is visible before a promote");
    s.promote(&first, &fin).await.unwrap();
    s.promote(&retry, &fin).await.unwrap();
    assert_eq!(s.get(&fin, 1 << 10).await.unwrap(), Bytes::from_static(b"attempt 2"));
    assert!(!s.exists(&first).await.unwrap() && !s.exists(&retry).await.unwrap(), "staged copies are gone");
    assert_eq!(s.list(&version_prefix(1, DATASET, V1).unwrap()).await.unwrap(), vec![(fin, 9)]);
}
on_both!(promoting_a_retry_lands_on_the_same_key);

async fn purging_a_version_removes_only_that_version(s: Storage) {
    for (v, n) in [(V1, 3u64), (V2, 2)] {
        for i in 0..n {
            let path = partition_path(1, DATASET, v, &Partition::Range { start: i * 10, end: i * 10 + 10 }).unwrap();
            s.put(&path, Bytes::from_static(b"rows")).await.unwrap();
        }
    }
    assert_eq!(s.delete_prefix(&version_prefix(1, DATASET, V1).unwrap()).await.unwrap(), 3);
    assert!(s.list(&version_prefix(1, DATASET, V1).unwrap()).await.unwrap().is_empty());
    assert_eq!(s.list(&version_prefix(1, DATASET, V2).unwrap()).await.unwrap().len(), 2);
}
on_both!(purging_a_version_removes_only_that_version);

async fn operators_are_content_addressed_and_verified(s: Storage) {
    let wasm = b"\0asm\x0d\0\x01\0 pretend component".to_vec();
    let digests = s.put_operator(&wasm).await.unwrap();
    assert_eq!(digests, OperatorDigests::of(&wasm));
    assert_eq!(s.put_operator(&wasm).await.unwrap(), digests, "storing again is a no-op");
    assert_eq!(s.get_operator(&digests.sha256, Some(&digests.blake3)).await.unwrap().as_ref(), wasm.as_slice());

    // Bytes that no longer match their digest are refused on load.
    let tampered = operator_path(&digests.sha256).unwrap();
    s.put(&tampered, Bytes::from_static(b"\0asm evil")).await.unwrap();
    let err = s.get_operator(&digests.sha256, None).await.unwrap_err();
    assert!(matches!(err, StorageError::DigestMismatch { algorithm: "sha256", .. }), "{err}");

    let other = b"\0asm another".to_vec();
    let d = s.put_operator(&other).await.unwrap();
    let err = s.get_operator(&d.sha256, Some(&digests.blake3)).await.unwrap_err();
    assert!(matches!(err, StorageError::DigestMismatch { algorithm: "blake3", .. }), "{err}");
    assert!(matches!(s.get_operator(&"0".repeat(64), None).await, Err(StorageError::NotFound { .. })));
}
on_both!(operators_are_content_addressed_and_verified);

#[tokio::test]
async fn an_oversized_component_is_refused_before_upload() {
    let dir = tempfile::tempdir().unwrap();
    let s = Storage::local(dir.path()).unwrap();
    let big = vec![0u8; (trace_storage::MAX_OPERATOR_BYTES + 1) as usize];
    let err = s.put_operator(&big).await.unwrap_err();
    assert!(err.to_string().contains(&format!("got={} bytes, limit={} bytes", big.len(), trace_storage::MAX_OPERATOR_BYTES)), "{err}");
    assert!(s.list(&Path::from("operators")).await.unwrap().is_empty());
}
