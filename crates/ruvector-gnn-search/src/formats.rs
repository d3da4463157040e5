//! Readers for evaluation inputs: vectors (`.npy`, `.fvecs`, `.ivecs`, raw
//! f32) and relevance judgements (BEIR-style qrels TSV).

use std::collections::HashMap;
use std::path::Path;

use ndarray::Array2;
use ndarray_npy::ReadNpyExt;

use crate::error::{Error, Result};
use crate::metrics::Judgements;

fn corrupt(path: &Path, reason: impl Into<String>) -> Error {
    Error::Corrupt {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Reads a matrix of vectors, one per row, choosing the format by extension:
/// `.npy` (2-D f32 or f64), `.fvecs` (each row `[dim: i32][dim × f32]`),
/// `.ivecs` (same with i32 values, converted), anything else = raw
/// little-endian f32 rows of width `dim` (required then).
///
/// Non-finite values are rejected with the row and column.
///
/// # Errors
/// [`Error::Io`], or [`Error::Corrupt`] naming the file and the problem.
pub fn read_vectors(path: impl AsRef<Path>, dim: Option<usize>) -> Result<Array2<f32>> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let m = match ext.as_str() {
        "npy" => match Array2::<f32>::read_npy(&bytes[..]) {
            Ok(a) => a,
            Err(_) => Array2::<f64>::read_npy(&bytes[..])
                .map_err(|e| corrupt(path, format!("expected a 2-D f32 or f64 .npy array: {e}")))?
                .mapv(|v| v as f32),
        },
        "fvecs" | "ivecs" => read_vecs(path, &bytes, ext == "ivecs")?,
        _ => {
            let d = dim.ok_or_else(|| {
                Error::Invalid(format!(
                    "{}: raw f32 files need the dimension (--dim)",
                    path.display()
                ))
            })?;
            if d == 0 || bytes.len() % (4 * d) != 0 {
                return Err(corrupt(
                    path,
                    format!("size {} is not a multiple of 4 × dim {d}", bytes.len()),
                ));
            }
            let v: Vec<f32> = bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            Array2::from_shape_vec((v.len() / d, d), v).map_err(|e| corrupt(path, e.to_string()))?
        }
    };
    if let Some(d) = dim {
        if m.ncols() != d {
            return Err(Error::Dimension {
                what: path.display().to_string(),
                expected: d,
                got: m.ncols(),
            });
        }
    }
    for (r, row) in m.outer_iter().enumerate() {
        if let Some(c) = row.iter().position(|v| !v.is_finite()) {
            return Err(corrupt(
                path,
                format!("non-finite value at row {r}, column {c}"),
            ));
        }
    }
    Ok(m)
}

fn read_vecs(path: &Path, bytes: &[u8], ints: bool) -> Result<Array2<f32>> {
    if bytes.is_empty() {
        return Ok(Array2::zeros((0, 0)));
    }
    if bytes.len() < 4 {
        return Err(corrupt(path, "truncated first record"));
    }
    let d = i32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    let d = usize::try_from(d)
        .ok()
        .filter(|&d| d > 0 && d < 1 << 20)
        .ok_or_else(|| corrupt(path, format!("implausible dimension {d}")))?;
    let rec = 4 + 4 * d;
    if bytes.len() % rec != 0 {
        return Err(corrupt(
            path,
            format!(
                "size {} is not a multiple of the record size {rec}",
                bytes.len()
            ),
        ));
    }
    let n = bytes.len() / rec;
    let mut out = Vec::with_capacity(n * d);
    for (r, chunk) in bytes.chunks_exact(rec).enumerate() {
        let di = i32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        if di as usize != d {
            return Err(corrupt(
                path,
                format!("row {r} has dimension {di}, expected {d}"),
            ));
        }
        for c in chunk[4..].chunks_exact(4) {
            let b = [c[0], c[1], c[2], c[3]];
            out.push(if ints {
                i32::from_le_bytes(b) as f32
            } else {
                f32::from_le_bytes(b)
            });
        }
    }
    Array2::from_shape_vec((n, d), out).map_err(|e| corrupt(path, e.to_string()))
}

/// Reads one id per line (blank lines ignored) into `id → row` order.
///
/// # Errors
/// [`Error::Io`] or [`Error::Corrupt`] on a duplicate id.
pub fn read_id_list(path: impl AsRef<Path>) -> Result<HashMap<String, usize>> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mut map = HashMap::new();
    for (row, line) in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .enumerate()
    {
        if map.insert(line.to_string(), row).is_some() {
            return Err(corrupt(path, format!("id '{line}' appears twice")));
        }
    }
    Ok(map)
}

/// Relevance judgements keyed by query row.
pub type Qrels = HashMap<usize, Judgements>;

/// Reads BEIR-style qrels: `query-id<TAB>corpus-id<TAB>score` per line, with
/// an optional header line. Ids are row numbers unless id maps are given
/// (from [`read_id_list`]); graded scores are kept. Rows must be below
/// `n_queries` / `n_docs`.
///
/// # Errors
/// [`Error::Io`], or [`Error::Corrupt`] naming the line.
pub fn read_qrels(
    path: impl AsRef<Path>,
    query_ids: Option<&HashMap<String, usize>>,
    doc_ids: Option<&HashMap<String, usize>>,
    n_queries: usize,
    n_docs: usize,
) -> Result<Qrels> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mut qrels: Qrels = HashMap::new();
    let resolve =
        |s: &str, map: Option<&HashMap<String, usize>>, n: usize, what: &str, line: usize| {
            let row = match map {
                Some(m) => m.get(s).copied(),
                None => s.parse::<usize>().ok(),
            };
            row.filter(|&r| r < n).ok_or_else(|| {
                corrupt(
                    path,
                    format!("line {line}: unknown {what} id '{s}' (have {n})"),
                )
            })
        };
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        if cols.len() < 3 {
            return Err(corrupt(
                path,
                format!("line {line_no}: expected 3 tab-separated columns"),
            ));
        }
        let Ok(score) = cols[2].trim().parse::<f32>() else {
            if i == 0 {
                continue; // header
            }
            return Err(corrupt(
                path,
                format!("line {line_no}: score '{}' is not a number", cols[2]),
            ));
        };
        if !score.is_finite() {
            return Err(corrupt(path, format!("line {line_no}: non-finite score")));
        }
        let q = resolve(cols[0].trim(), query_ids, n_queries, "query", line_no)?;
        let d = resolve(cols[1].trim(), doc_ids, n_docs, "corpus", line_no)?;
        qrels.entry(q).or_default().insert(d as u64, score);
    }
    Ok(qrels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fvecs_raw_and_qrels() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.fvecs");
        let mut b = Vec::new();
        for r in 0..3 {
            b.extend_from_slice(&2i32.to_le_bytes());
            b.extend_from_slice(&(r as f32).to_le_bytes());
            b.extend_from_slice(&1.5f32.to_le_bytes());
        }
        std::fs::write(&p, &b).unwrap();
        let m = read_vectors(&p, None).unwrap();
        assert_eq!(m.dim(), (3, 2));
        assert_eq!(m[[2, 0]], 2.0);
        std::fs::write(&p, &b[..b.len() - 1]).unwrap();
        assert!(read_vectors(&p, None).is_err());

        // .ivecs: the same framing with i32 values, converted to f32.
        let iv = dir.path().join("a.ivecs");
        let mut b = Vec::new();
        for r in 0..2i32 {
            b.extend_from_slice(&3i32.to_le_bytes());
            for v in [r, -7, 1 << 20] {
                b.extend_from_slice(&v.to_le_bytes());
            }
        }
        std::fs::write(&iv, &b).unwrap();
        let m = read_vectors(&iv, None).unwrap();
        assert_eq!(
            m,
            ndarray::array![[0.0, -7.0, 1_048_576.0], [1.0, -7.0, 1_048_576.0]]
        );
        // A row whose length prefix disagrees with the first is corrupt.
        b[16..20].copy_from_slice(&2i32.to_le_bytes());
        std::fs::write(&iv, &b).unwrap();
        let err = read_vectors(&iv, None).unwrap_err();
        assert!(matches!(err, Error::Corrupt { .. }), "{err}");

        let raw = dir.path().join("a.f32");
        std::fs::write(
            &raw,
            [1f32, 2.0, 3.0, f32::NAN].map(f32::to_le_bytes).concat(),
        )
        .unwrap();
        assert!(read_vectors(&raw, None).is_err());
        let err = read_vectors(&raw, Some(2)).unwrap_err().to_string();
        assert!(err.contains("row 1, column 1"), "{err}");

        let q = dir.path().join("q.tsv");
        std::fs::write(
            &q,
            "query-id\tcorpus-id\tscore\n0\t1\t1\n0\t2\t2\n1\t0\t1\n",
        )
        .unwrap();
        let qr = read_qrels(&q, None, None, 2, 3).unwrap();
        assert_eq!(qr[&0][&2], 2.0);
        assert!(read_qrels(&q, None, None, 1, 3).is_err());
        let ids: HashMap<String, usize> = [("0".to_string(), 1), ("1".to_string(), 0)].into();
        let qr = read_qrels(&q, Some(&ids), None, 2, 3).unwrap();
        assert_eq!(qr[&1][&1], 1.0);
    }

    #[test]
    fn reads_shared_chatterbot_if_present() {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/data/chatterbot_qa"
        );
        if !Path::new(dir).exists() {
            eprintln!("skipping: {dir} not present");
            return;
        }
        let base = read_vectors(format!("{dir}/base.npy"), None).unwrap();
        let queries = read_vectors(format!("{dir}/queries.npy"), None).unwrap();
        assert_eq!(base.dim(), (877, 384));
        let qrels = read_qrels(
            format!("{dir}/qrels.tsv"),
            None,
            None,
            queries.nrows(),
            base.nrows(),
        )
        .unwrap();
        assert_eq!(qrels.values().map(HashMap::len).sum::<usize>(), 899);
    }
}
