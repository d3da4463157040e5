//! Runtime instruction-set dispatch, decided once per process.
//!
//! With the `simd` feature (default) the best instruction set pulp supports
//! on this CPU is detected on first use and cached: AVX-512 (pulp `V4`),
//! AVX2+FMA (`V3`), NEON on aarch64, simd128 on wasm32 (see
//! `enable_wasm_simd`), else scalar. Without the feature every public
//! kernel runs its scalar twin from [`crate::scalar`].
//!
//! Layers never see [`pulp::Simd`]: dispatch lives at the kernel crate's edge.
//!
//! Kernel bodies multiply-add with pulp's `mul_add_e_f32s` (one fused
//! instruction where the target has one: AVX2/AVX-512 FMA, NEON; a multiply
//! then an add elsewhere), not `mul_add_f32s`, which promises a correctly
//! rounded fused result and so, on wasm32 (no FMA instruction outside relaxed
//! SIMD), became a software `fmaf` call per lane.

#[cfg(feature = "simd")]
use std::sync::OnceLock;

#[cfg(feature = "simd")]
use pulp::{Arch, WithSimd};

#[cfg(feature = "simd")]
static ARCH: OnceLock<Arch> = OnceLock::new();

/// The cached instruction-set token.
#[cfg(feature = "simd")]
#[inline]
pub(crate) fn arch() -> Arch {
    *ARCH.get_or_init(|| {
        enable_wasm_simd();
        Arch::new()
    })
}

/// On wasm32, switches the simd128 bodies of pulp (our kernels) and of
/// `gemm` (the dense products) on; elsewhere nothing. Called once, by
/// [`arch`] before it detects the instruction set; `matmul` calls [`arch`]
/// before its first `gemm` call for the same reason.
///
/// Both crates compile their simd128 bodies into every wasm32 module that
/// holds these kernels, with or without `-C target-feature=+simd128`
/// (function-level target features), and pick them at run time only when
/// told to. A WebAssembly engine validates the whole module before running
/// any of it, so an engine that runs this code at all supports simd128
/// (every current browser; Node ≥ 16.4): the bodies are safe to pick.
/// Relaxed SIMD stays off (Node 20 rejects it without a flag, and its
/// results are left to the engine). `gemm` picks its kernel on its first
/// call: a program that calls `gemm` itself before any of our products
/// keeps its scalar kernel (ours switch pulp's on either way).
#[cfg(feature = "simd")]
#[inline]
fn enable_wasm_simd() {
    #[cfg(target_arch = "wasm32")]
    {
        pulp::wasm::enable_simd128();
        gemm::set_wasm_simd128(true);
    }
}

/// Runs `op` once on the best available instruction set.
#[cfg(feature = "simd")]
#[inline]
pub(crate) fn dispatch<Op: WithSimd>(op: Op) -> Op::Output {
    arch().dispatch(op)
}

/// Name of the instruction set the kernels dispatch to on this machine:
/// `"avx512"`, `"avx2+fma"`, `"neon"`, `"simd128"` or `"scalar"` (always
/// `"scalar"` without the `simd` feature).
///
/// ```
/// let isa = ruvector_gnn_kernels::dispatch::isa_name();
/// assert!(["avx512", "avx2+fma", "neon", "simd128", "scalar"].contains(&isa));
/// ```
pub fn isa_name() -> &'static str {
    #[cfg(not(feature = "simd"))]
    return "scalar";
    #[cfg(feature = "simd")]
    struct Name;
    #[cfg(feature = "simd")]
    impl WithSimd for Name {
        type Output = &'static str;
        #[inline(always)]
        fn with_simd<S: pulp::Simd>(self, _simd: S) -> &'static str {
            if S::IS_SCALAR {
                return "scalar";
            }
            match (
                cfg!(target_arch = "aarch64"),
                cfg!(target_arch = "wasm32"),
                S::F32_LANES,
            ) {
                (true, _, _) => "neon",
                (_, true, _) => "simd128",
                (_, _, 16) => "avx512",
                (_, _, 8) => "avx2+fma",
                _ => "scalar",
            }
        }
    }
    #[cfg(feature = "simd")]
    dispatch(Name)
}

/// Instruction sets to run a kernel body on explicitly (tests only).
#[cfg(all(test, feature = "simd"))]
#[derive(Debug, Clone, Copy)]
pub(crate) enum Isa {
    Scalar,
    #[cfg(target_arch = "x86_64")]
    V3(pulp::x86::V3),
    #[cfg(target_arch = "x86_64")]
    V4(pulp::x86::V4),
}

#[cfg(all(test, feature = "simd"))]
impl Isa {
    /// Every instruction set this CPU can run, scalar first.
    pub(crate) fn available() -> Vec<Isa> {
        #[allow(unused_mut)] // only pushed to on x86_64
        let mut v = vec![Isa::Scalar];
        #[cfg(target_arch = "x86_64")]
        {
            if let Some(s) = pulp::x86::V3::try_new() {
                v.push(Isa::V3(s));
            }
            if let Some(s) = pulp::x86::V4::try_new() {
                v.push(Isa::V4(s));
            }
        }
        v
    }

    /// Runs `op` on this instruction set.
    pub(crate) fn run<Op: WithSimd>(self, op: Op) -> Op::Output {
        use pulp::Simd;
        match self {
            Isa::Scalar => pulp::Scalar::new().vectorize(op),
            #[cfg(target_arch = "x86_64")]
            Isa::V3(s) => Simd::vectorize(s, op),
            #[cfg(target_arch = "x86_64")]
            Isa::V4(s) => Simd::vectorize(s, op),
        }
    }
}
