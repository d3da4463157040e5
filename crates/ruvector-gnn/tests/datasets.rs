//! `Planetoid::load` on tiny synthetic folders in the layout of `data/cora`
//! (another Planetoid set than Cora, written here in a temporary folder), on
//! malformed files, and on the bundled Cora.

use std::fs;
use std::path::{Path, PathBuf};

use ndarray::{arr1, Array1, Array2};
use ndarray_npy::{WritableElement, WriteNpyExt};
use ruvector_gnn::datasets::{DatasetError, Planetoid};
use tempfile::TempDir;

const NODES: usize = 7;

/// Feature columns per node (5 features; node 3 has none).
const FEATURES: [&[i64]; NODES] = [&[0, 2], &[1], &[0, 1, 4], &[], &[3, 4], &[2], &[0, 3]];
/// Labels (3 classes).
const LABELS: [i64; NODES] = [0, 1, 2, 0, 1, 2, 1];
/// Undirected edges; the folder stores each in both directions.
const EDGES: [(i64, i64); 6] = [(0, 1), (1, 2), (2, 3), (4, 5), (5, 6), (0, 6)];
const TRAIN: [bool; NODES] = [true, true, true, false, false, false, false];
const VAL: [u8; NODES] = [0, 0, 0, 1, 1, 0, 0];
const TEST: [u8; NODES] = [0, 0, 0, 0, 0, 1, 1];

/// Writes `a` as `dir/name.npy`.
fn npy<A: WritableElement, D: ndarray::Dimension>(
    dir: &Path,
    name: &str,
    a: &ndarray::ArrayBase<impl ndarray::Data<Elem = A>, D>,
) {
    a.write_npy(fs::File::create(dir.join(format!("{name}.npy"))).unwrap())
        .unwrap();
}

/// The directed edge list as `[2, E]`: each undirected edge both ways.
fn edge_index() -> Array2<i64> {
    let (mut src, mut dst) = (Vec::new(), Vec::new());
    for &(a, b) in &EDGES {
        src.extend([a, b]);
        dst.extend([b, a]);
    }
    let e = src.len();
    src.extend(dst);
    Array2::from_shape_vec((2, e), src).unwrap()
}

/// A temporary folder holding the 7-node data set (removed on drop). Dtypes
/// are mixed on purpose, as real exports mix them.
fn folder() -> TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut indptr = vec![0u32];
    let mut indices = Vec::new();
    for cols in FEATURES {
        indices.extend(cols.iter().map(|&c| c as i32));
        indptr.push(indices.len() as u32);
    }
    npy(dir, "x_indptr", &arr1(&indptr));
    npy(dir, "x_indices", &arr1(&indices));
    npy(dir, "y", &arr1(&LABELS));
    npy(dir, "edge_index", &edge_index());
    npy(dir, "train_mask", &arr1(&TRAIN));
    npy(dir, "val_mask", &arr1(&VAL));
    npy(dir, "test_mask", &arr1(&TEST));
    tmp
}

fn load_err(dir: &Path) -> DatasetError {
    Planetoid::load(dir, true).unwrap_err()
}

/// The error's file, and its message names that file.
fn err_path(err: &DatasetError) -> PathBuf {
    let path = match err {
        DatasetError::File { path, .. }
        | DatasetError::Shape { path, .. }
        | DatasetError::Length { path, .. }
        | DatasetError::OutOfRange { path, .. }
        | DatasetError::Invalid { path, .. } => path.clone(),
        other => panic!("unexpected error {other:?}"),
    };
    let name = path.file_name().unwrap().to_str().unwrap();
    assert!(err.to_string().contains(name), "{err}");
    path
}

fn assert_names(err: &DatasetError, dir: &Path, file: &str) {
    assert_eq!(err_path(err), dir.join(file), "{err}");
}

#[test]
fn loads_a_synthetic_planetoid_folder() {
    let tmp = folder();
    let ds = Planetoid::load(tmp.path(), false).unwrap();

    assert_eq!(ds.features.dim(), (NODES, 5));
    for (i, cols) in FEATURES.iter().enumerate() {
        for c in 0..5 {
            let want = if cols.contains(&(c as i64)) { 1.0 } else { 0.0 };
            assert_eq!(ds.features[[i, c]], want, "node {i} feature {c}");
        }
    }
    let labels: Vec<usize> = LABELS.iter().map(|&l| l as usize).collect();
    assert_eq!(ds.labels, labels);
    assert_eq!(ds.num_classes, 3);

    assert_eq!(ds.graph.n_rows(), NODES);
    assert_eq!(ds.graph.n_edges(), 2 * EDGES.len());
    let adj = ds.graph.to_adjacency();
    let mut sorted = adj.clone();
    for r in &mut sorted {
        r.sort_unstable();
    }
    assert_eq!(
        sorted,
        vec![
            vec![1, 6],
            vec![0, 2],
            vec![1, 3],
            vec![2],
            vec![5],
            vec![4, 6],
            vec![0, 5],
        ]
    );
    for (i, row) in adj.iter().enumerate() {
        for &j in row {
            assert!(adj[j].contains(&i), "edge {j}->{i} has no reverse");
        }
    }

    assert_eq!(ds.train_mask, TRAIN);
    assert_eq!(ds.val_mask, VAL.map(|v| v == 1));
    assert_eq!(ds.test_mask, TEST.map(|v| v == 1));
}

#[test]
fn row_normalised_rows_sum_to_one_and_empty_rows_stay_zero() {
    let tmp = folder();
    let ds = Planetoid::load(tmp.path(), true).unwrap();
    for (i, row) in ds.features.rows().into_iter().enumerate() {
        assert!(row.iter().all(|v| v.is_finite()), "node {i}: {row}");
        if FEATURES[i].is_empty() {
            assert!(row.iter().all(|&v| v == 0.0), "node {i}: {row}");
        } else {
            assert!((row.sum() - 1.0).abs() < 1e-6, "node {i}: {row}");
            let each = 1.0 / FEATURES[i].len() as f32;
            for &c in FEATURES[i] {
                assert!((row[c as usize] - each).abs() < 1e-6, "node {i}: {row}");
            }
        }
    }

    // Weighted features (`x_data.npy`, f64 like NumPy's default): each row is
    // divided by its own sum.
    let nnz: usize = FEATURES.iter().map(|c| c.len()).sum();
    let data = Array1::from_iter((1..=nnz).map(|k| k as f64));
    npy(tmp.path(), "x_data", &data);
    let ds = Planetoid::load(tmp.path(), true).unwrap();
    let mut k = 0;
    for (i, cols) in FEATURES.iter().enumerate() {
        let row = ds.features.row(i);
        let total: f64 = (k + 1..=k + cols.len()).map(|v| v as f64).sum();
        for &c in *cols {
            k += 1;
            let want = (k as f64 / total) as f32;
            assert!((row[c as usize] - want).abs() < 1e-6, "node {i}: {row}");
        }
        let sum = row.sum();
        assert!(if cols.is_empty() {
            sum == 0.0
        } else {
            (sum - 1.0).abs() < 1e-6
        });
    }
}

#[test]
fn bundled_cora_rows_sum_to_one() {
    let cora = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/cora");
    let ds = Planetoid::load(cora, true).unwrap();
    assert_eq!(ds.features.dim(), (2708, 1433));
    assert_eq!(ds.graph.n_edges(), 10556);
    for (i, row) in ds.features.rows().into_iter().enumerate() {
        let s = row.sum();
        assert!((s - 1.0).abs() < 1e-5 || (s == 0.0), "node {i} sums to {s}");
        assert!(row.iter().all(|v| v.is_finite()), "node {i}");
    }
    let count = |m: &[bool]| m.iter().filter(|&&b| b).count();
    assert_eq!(
        (
            count(&ds.train_mask),
            count(&ds.val_mask),
            count(&ds.test_mask)
        ),
        (140, 500, 1000)
    );
}

#[test]
fn feature_width_is_the_largest_used_column_plus_one() {
    // The folder stores no width: with column 4 unused by every node, the
    // data set has 4 features (see the module docs).
    let tmp = folder();
    let indices: Vec<i64> = FEATURES
        .iter()
        .flat_map(|c| c.iter().map(|&v| v.min(3)))
        .collect();
    npy(tmp.path(), "x_indices", &arr1(&indices));
    let ds = Planetoid::load(tmp.path(), false).unwrap();
    assert_eq!(ds.features.ncols(), 4);
    assert_eq!(ds.features.row(4).to_vec(), [0.0, 0.0, 0.0, 1.0]);
}

#[test]
fn fortran_order_and_other_dtypes_read_the_same() {
    let tmp = folder();
    let want = Planetoid::load(tmp.path(), true).unwrap();
    // The [E, 2] transpose written as a view: a [2, E] array in Fortran order.
    let e_by_2 = edge_index().reversed_axes().as_standard_layout().to_owned();
    npy(tmp.path(), "edge_index", &e_by_2.t());
    npy(tmp.path(), "y", &arr1(&LABELS.map(|l| l as u8)));
    npy(tmp.path(), "train_mask", &arr1(&TRAIN.map(u64::from)));
    let got = Planetoid::load(tmp.path(), true).unwrap();
    assert_eq!(got.graph, want.graph);
    assert_eq!(got.labels, want.labels);
    assert_eq!(got.train_mask, want.train_mask);
}

#[test]
fn edge_index_of_shape_e_by_2_is_a_shape_error() {
    let tmp = folder();
    let dir = tmp.path();
    npy(dir, "edge_index", &edge_index().reversed_axes());
    let err = load_err(dir);
    assert_names(&err, dir, "edge_index.npy");
    assert!(
        matches!(&err, DatasetError::Shape { found, .. } if found == &[12, 2]),
        "{err}"
    );
    assert!(err.to_string().contains("[12, 2]"), "{err}");
    assert!(err.to_string().contains("transpose"), "{err}");

    // Flattened edges are not guessed at either.
    npy(dir, "edge_index", &arr1(&[0i64, 1, 1, 0]));
    let err = load_err(dir);
    assert_names(&err, dir, "edge_index.npy");
    assert!(matches!(err, DatasetError::Shape { .. }), "{err}");
}

#[test]
fn edges_are_taken_as_given() {
    // One direction only: a directed graph. Self loops and duplicates drop.
    let tmp = folder();
    npy(
        tmp.path(),
        "edge_index",
        &Array2::from_shape_vec((2, 4), vec![0i64, 0, 2, 3, 1, 1, 2, 3]).unwrap(),
    );
    let ds = Planetoid::load(tmp.path(), true).unwrap();
    assert_eq!(ds.graph.n_edges(), 1);
    assert_eq!(ds.graph.row(1), &[0]);
    assert!(ds.graph.row(0).is_empty());

    npy(tmp.path(), "edge_index", &Array2::<i64>::zeros((2, 0)));
    let ds = Planetoid::load(tmp.path(), true).unwrap();
    assert_eq!(ds.graph.n_edges(), 0);
}

#[test]
fn truncated_or_corrupt_files_are_file_errors() {
    let tmp = folder();
    let dir = tmp.path();

    let path = dir.join("x_indices.npy");
    let bytes = fs::read(&path).unwrap();
    fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
    let err = load_err(dir);
    assert_names(&err, dir, "x_indices.npy");
    assert!(matches!(err, DatasetError::File { .. }), "{err}");
    assert!(err.to_string().contains("truncated"), "{err}");

    // Only the first bytes of the header.
    fs::write(&path, &bytes[..20]).unwrap();
    let err = load_err(dir);
    assert_names(&err, dir, "x_indices.npy");
    assert!(matches!(err, DatasetError::File { .. }), "{err}");
    assert!(err.to_string().contains("truncated"), "{err}");

    // Extra bytes after the data.
    let mut longer = bytes.clone();
    longer.extend([0; 4]);
    fs::write(&path, &longer).unwrap();
    let err = load_err(dir);
    assert_names(&err, dir, "x_indices.npy");
    assert!(matches!(err, DatasetError::File { .. }), "{err}");
    fs::write(&path, &bytes).unwrap();

    // Not a .npy file at all.
    fs::write(dir.join("y.npy"), b"0,1,2,0,1,2,1\n").unwrap();
    let err = load_err(dir);
    assert_names(&err, dir, "y.npy");
    assert!(matches!(err, DatasetError::File { .. }), "{err}");

    // A header claiming a huge array over a few bytes of data: an error, not
    // an allocation of the declared size.
    let header = "{'descr': '<i8', 'fortran_order': False, 'shape': (1000000000000,), }";
    let mut huge = b"\x93NUMPY\x01\x00".to_vec();
    let padded = format!("{header:<117}\n");
    huge.extend((padded.len() as u16).to_le_bytes());
    huge.extend(padded.as_bytes());
    huge.extend([0; 16]);
    fs::write(dir.join("y.npy"), &huge).unwrap();
    let err = load_err(dir);
    assert_names(&err, dir, "y.npy");
    assert!(err.to_string().contains("truncated"), "{err}");

    // Labels stored as floats.
    npy(dir, "y", &arr1(&LABELS.map(|l| l as f32)));
    let err = load_err(dir);
    assert_names(&err, dir, "y.npy");
    assert!(err.to_string().contains("not an integer"), "{err}");

    // A required file missing.
    npy(dir, "y", &arr1(&LABELS));
    fs::remove_file(dir.join("val_mask.npy")).unwrap();
    let err = load_err(dir);
    assert_names(&err, dir, "val_mask.npy");
    assert!(matches!(err, DatasetError::File { .. }), "{err}");
}

#[test]
fn labels_out_of_range_are_errors() {
    let tmp = folder();
    let dir = tmp.path();
    for (at, bad) in [(2, -1i64), (5, NODES as i64)] {
        let mut y = LABELS;
        y[at] = bad;
        npy(dir, "y", &arr1(&y));
        let err = load_err(dir);
        assert_names(&err, dir, "y.npy");
        assert!(
            matches!(&err, DatasetError::OutOfRange { what: "label", index, value, range, .. }
                if *index == at && *value == bad && *range == (0..NODES as i64)),
            "{err}"
        );
    }
    // One-hot labels (the raw Planetoid `ind.*.y` layout) are a shape error.
    let mut onehot = Array2::<i64>::zeros((NODES, 3));
    for (i, &l) in LABELS.iter().enumerate() {
        onehot[[i, l as usize]] = 1;
    }
    npy(dir, "y", &onehot);
    let err = load_err(dir);
    assert_names(&err, dir, "y.npy");
    assert!(matches!(err, DatasetError::Shape { .. }), "{err}");
}

#[test]
fn edge_node_ids_out_of_range_are_errors() {
    let tmp = folder();
    let dir = tmp.path();
    let edges = edge_index();
    let e = edges.ncols();
    for (row, bad, what) in [(0, -3i64, "source node"), (1, NODES as i64, "target node")] {
        let mut ei = edges.clone();
        ei[[row, 4]] = bad;
        npy(dir, "edge_index", &ei);
        let err = load_err(dir);
        assert_names(&err, dir, "edge_index.npy");
        assert!(
            matches!(&err, DatasetError::OutOfRange { what: w, index: 4, value, .. }
                if *w == what && *value == bad),
            "{err}"
        );
    }
    // u64 ids beyond i64 are out of range too, not wrapped.
    let mut ei = edges.mapv(|v| v as u64);
    ei[[0, e - 1]] = u64::MAX;
    npy(dir, "edge_index", &ei);
    let err = load_err(dir);
    assert!(matches!(err, DatasetError::OutOfRange { .. }), "{err}");
}

#[test]
fn mismatched_lengths_name_the_file() {
    let tmp = folder();
    let dir = tmp.path();

    npy(dir, "train_mask", &arr1(&TRAIN[..6]));
    let err = load_err(dir);
    assert_names(&err, dir, "train_mask.npy");
    assert!(
        matches!(
            err,
            DatasetError::Length {
                found: 6,
                expected: 7,
                ..
            }
        ),
        "{err}"
    );
    npy(dir, "train_mask", &arr1(&TRAIN));

    npy(dir, "x_indptr", &arr1(&[0u32, 2, 3, 6, 6, 8, 9]));
    let err = load_err(dir);
    assert_names(&err, dir, "x_indptr.npy");
    assert!(
        matches!(
            err,
            DatasetError::Length {
                found: 7,
                expected: 8,
                ..
            }
        ),
        "{err}"
    );

    // x_indices longer than the last offset says.
    npy(dir, "x_indptr", &arr1(&[0u32, 2, 3, 6, 6, 8, 9, 10]));
    let err = load_err(dir);
    assert_names(&err, dir, "x_indices.npy");
    assert!(
        matches!(
            err,
            DatasetError::Length {
                found: 11,
                expected: 10,
                ..
            }
        ),
        "{err}"
    );
    npy(dir, "x_indptr", &arr1(&[0u32, 2, 3, 6, 6, 8, 9, 11]));

    npy(dir, "x_data", &Array1::<f32>::ones(10));
    let err = load_err(dir);
    assert_names(&err, dir, "x_data.npy");
    assert!(
        matches!(
            err,
            DatasetError::Length {
                found: 10,
                expected: 11,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn bad_values_are_typed_errors() {
    let tmp = folder();
    let dir = tmp.path();

    npy(dir, "x_indptr", &arr1(&[0u32, 2, 3, 2, 6, 8, 9, 11]));
    let err = load_err(dir);
    assert_names(&err, dir, "x_indptr.npy");
    assert!(matches!(err, DatasetError::Invalid { .. }), "{err}");
    npy(dir, "x_indptr", &arr1(&[1u32, 2, 3, 6, 6, 8, 9, 11]));
    let err = load_err(dir);
    assert_names(&err, dir, "x_indptr.npy");
    npy(dir, "x_indptr", &arr1(&[0u32, 2, 3, 6, 6, 8, 9, 11]));

    let mut indices: Vec<i64> = FEATURES.concat();
    indices[3] = -1;
    npy(dir, "x_indices", &arr1(&indices));
    let err = load_err(dir);
    assert_names(&err, dir, "x_indices.npy");
    assert!(
        matches!(
            err,
            DatasetError::OutOfRange {
                index: 3,
                value: -1,
                ..
            }
        ),
        "{err}"
    );
    npy(dir, "x_indices", &arr1(&FEATURES.concat()));

    let mut data = Array1::<f32>::ones(11);
    data[5] = f32::NAN;
    npy(dir, "x_data", &data);
    let err = load_err(dir);
    assert_names(&err, dir, "x_data.npy");
    assert!(matches!(err, DatasetError::Invalid { .. }), "{err}");
    fs::remove_file(dir.join("x_data.npy")).unwrap();

    let mut test = TEST;
    test[6] = 2;
    npy(dir, "test_mask", &arr1(&test));
    let err = load_err(dir);
    assert_names(&err, dir, "test_mask.npy");
    assert!(
        matches!(
            err,
            DatasetError::OutOfRange {
                index: 6,
                value: 2,
                ..
            }
        ),
        "{err}"
    );

    // No nodes; no stored features.
    npy(dir, "y", &Array1::<i64>::zeros(0));
    let err = load_err(dir);
    assert_names(&err, dir, "y.npy");
    assert!(matches!(err, DatasetError::Invalid { .. }), "{err}");
    npy(dir, "y", &arr1(&LABELS));
    npy(dir, "test_mask", &arr1(&TEST));
    npy(dir, "x_indptr", &Array1::<u32>::zeros(NODES + 1));
    npy(dir, "x_indices", &Array1::<u32>::zeros(0));
    let err = load_err(dir);
    assert_names(&err, dir, "x_indices.npy");
    assert!(matches!(err, DatasetError::Invalid { .. }), "{err}");
}
