//! Interop with the Python `safetensors` package. Runs only where
//! `python3 -c "import safetensors, numpy"` works; otherwise prints why it
//! skipped. (`pip install safetensors numpy` to enable it locally.)

use std::process::Command;

use ruvector_gnn_weights::{quantize, Precision, Tensor, TensorStore};

fn python_ok() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import safetensors, numpy"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("SKIP python interop: python3 with safetensors+numpy not available");
    }
    ok
}

#[test]
fn python_reads_our_file_and_we_read_theirs() {
    if !python_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ours = dir.path().join("ours.safetensors");
    let theirs = dir.path().join("theirs.safetensors");
    let w: Vec<f32> = (0..12).map(|i| i as f32 * 0.25 - 1.0).collect();
    let mut s = TensorStore::new();
    s.insert(
        "layers.0.weight",
        Tensor::from_f32(vec![3, 4], w.clone()).unwrap(),
    )
    .unwrap();
    s.insert(
        "layers.0.bias",
        quantize(
            &Tensor::from_f32(vec![4], vec![0.5, -0.25, 1.0, 2.0]).unwrap(),
            Precision::F16,
        ),
    )
    .unwrap();
    s.insert(
        "q",
        quantize(
            &Tensor::from_f32(vec![2, 3], vec![1.0, -0.5, 0.25, 127.0, 0.0, -127.0]).unwrap(),
            Precision::Int8,
        ),
    )
    .unwrap();
    s.set_config(r#"{"layers":[{"type":"gcn"}]}"#).unwrap();
    s.save(&ours).unwrap();

    let script = r#"
import sys, json, numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file, save_file
ours, theirs = sys.argv[1], sys.argv[2]
t = load_file(ours)
w = t["layers.0.weight"]
assert w.dtype == np.float32 and w.shape == (3, 4), (w.dtype, w.shape)
assert np.array_equal(w.ravel(), np.arange(12, dtype=np.float32) * 0.25 - 1.0)
b = t["layers.0.bias"]
assert b.dtype == np.float16 and list(b) == [0.5, -0.25, 1.0, 2.0]
q, sc = t["q"], t["q.scale"]
assert q.dtype == np.int8 and q.shape == (2, 3) and sc.shape == (2,)
deq = q.astype(np.float32) * sc[:, None]
assert np.allclose(deq, [[1.0, -0.5, 0.25], [127.0, 0.0, -127.0]], atol=sc.max() / 2 + 1e-6)
with safe_open(ours, framework="numpy") as f:
    meta = f.metadata()
assert meta["format_version"] == "1", meta
assert json.loads(meta["ruvector_gnn.config"])["layers"][0]["type"] == "gcn"
save_file({"x": np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3),
           "h": np.array([1.5, -2.0], dtype=np.float16)}, theirs,
          metadata={"source": "python"})
print("python ok")
"#;
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&ours)
        .arg(&theirs)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let t = TensorStore::load(&theirs).unwrap();
    assert_eq!(t.get("x").unwrap().shape(), &[2, 3]);
    let want: Vec<f32> = (0..6).map(|i| -1.0 + 0.4 * i as f32).collect();
    for (a, b) in t.get("x").unwrap().to_f32_vec().iter().zip(&want) {
        assert!((a - b).abs() < 1e-6);
    }
    assert_eq!(t.get("h").unwrap().to_f32_vec(), vec![1.5, -2.0]);
    assert_eq!(
        t.metadata().get("source").map(String::as_str),
        Some("python")
    );
}
