//! The log's side of witnessing in its database: the cosignature lines its witnesses returned
//! for each checkpoint size. A line is stored only after it verified against the witness's
//! configured key (see `notary::witnesses`), so reading them back needs no check.

use tokio_postgres::GenericClient;

use super::StoreError;

/// Stores a witness's cosignature line for a checkpoint size (the first one kept).
pub async fn insert(
    client: &impl GenericClient,
    size: u64,
    witness: &str,
    line: &str,
) -> Result<(), StoreError> {
    client
        .execute(
            "INSERT INTO log_cosignatures (size, witness, line) VALUES ($1, $2, $3)
             ON CONFLICT (size, witness) DO NOTHING",
            &[&(size as i64), &witness, &line],
        )
        .await?;
    Ok(())
}

/// The cosignature lines stored for a size: (witness key name, line), by witness name.
pub async fn lines_for(
    client: &impl GenericClient,
    size: u64,
) -> Result<Vec<(String, String)>, StoreError> {
    Ok(client
        .query(
            "SELECT witness, line FROM log_cosignatures WHERE size = $1 ORDER BY witness",
            &[&(size as i64)],
        )
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect())
}

/// The largest size a witness has cosigned, as far as this log knows.
pub async fn latest_size_by(
    client: &impl GenericClient,
    witness: &str,
) -> Result<Option<u64>, StoreError> {
    Ok(client
        .query_one(
            "SELECT max(size) FROM log_cosignatures WHERE witness = $1",
            &[&witness],
        )
        .await?
        .get::<_, Option<i64>>(0)
        .map(|s| s as u64))
}

/// Sizes, largest first (at most `limit`), cosigned by at least `k` of `witnesses`.
pub async fn sizes_cosigned_by(
    client: &impl GenericClient,
    witnesses: &[&str],
    k: usize,
    limit: i64,
) -> Result<Vec<u64>, StoreError> {
    let k = i64::try_from(k).unwrap_or(i64::MAX);
    Ok(client
        .query(
            "SELECT size FROM log_cosignatures WHERE witness = ANY($1)
             GROUP BY size HAVING count(DISTINCT witness) >= $2
             ORDER BY size DESC LIMIT $3",
            &[&witnesses, &k, &limit],
        )
        .await?
        .iter()
        .map(|r| r.get::<_, i64>(0) as u64)
        .collect())
}
