//! Reinterpreting little-endian file bytes as typed slices.
//!
//! The safetensors format stores every element little-endian and packed.
//! When the bytes of a tensor are suitably aligned (and the target is little
//! endian) they are borrowed in place; otherwise they are decoded into an
//! owned `Vec` (never an unaligned reference, which would be UB).

use half::f16;

/// Plain-old-data element types this crate stores.
pub(crate) trait Pod: Copy + Default + 'static {
    /// Size in bytes.
    const SIZE: usize;
    /// Decodes one element from exactly `SIZE` little-endian bytes.
    fn from_le(bytes: &[u8]) -> Self;
    /// Appends the little-endian encoding of `self`.
    fn write_le(self, out: &mut Vec<u8>);
}

impl Pod for f32 {
    const SIZE: usize = 4;
    fn from_le(b: &[u8]) -> Self {
        f32::from_le_bytes([b[0], b[1], b[2], b[3]])
    }
    fn write_le(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

impl Pod for f16 {
    const SIZE: usize = 2;
    fn from_le(b: &[u8]) -> Self {
        f16::from_le_bytes([b[0], b[1]])
    }
    fn write_le(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

impl Pod for i8 {
    const SIZE: usize = 1;
    fn from_le(b: &[u8]) -> Self {
        b[0] as i8
    }
    fn write_le(self, out: &mut Vec<u8>) {
        out.push(self as u8);
    }
}

/// Borrows `bytes` as `&[T]` if that is sound: little-endian target, length a
/// multiple of `T::SIZE` and the start aligned for `T`. `None` otherwise.
pub(crate) fn try_borrow<T: Pod>(bytes: &[u8]) -> Option<&[T]> {
    if cfg!(target_endian = "big") || bytes.len() % T::SIZE != 0 {
        return None;
    }
    // SAFETY: `T` is one of f32, f16 or i8 (the only `Pod` impls, all
    // crate-private): plain data types with no padding and no invalid bit
    // patterns, so any initialised bytes are a valid `T`. `align_to` only
    // puts correctly aligned, in-bounds elements in the middle slice; we
    // accept the result only when nothing was left over on either side, i.e.
    // the middle covers exactly `bytes`. The lifetime is that of `bytes`.
    let (head, mid, tail) = unsafe { bytes.align_to::<T>() };
    if head.is_empty() && tail.is_empty() {
        Some(mid)
    } else {
        None
    }
}

/// Decodes `bytes` (a multiple of `T::SIZE` long) into an owned vector.
pub(crate) fn decode<T: Pod>(bytes: &[u8]) -> Vec<T> {
    bytes.chunks_exact(T::SIZE).map(T::from_le).collect()
}

/// Appends the little-endian bytes of `values` to `out`.
pub(crate) fn encode_into<T: Pod>(values: &[T], out: &mut Vec<u8>) {
    out.reserve(values.len() * T::SIZE);
    for &v in values {
        v.write_le(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn borrow_aligned_and_reject_misaligned() {
        let mut bytes = Vec::new();
        encode_into(&[1.5f32, -2.0, 0.0], &mut bytes);
        // Place the 12 bytes at a 4-aligned and at a misaligned address.
        let mut buf = [0u8; 32];
        let off = buf.as_ptr().align_offset(4);
        buf[off..off + 12].copy_from_slice(&bytes);
        let got: &[f32] = try_borrow(&buf[off..off + 12]).expect("aligned borrow");
        assert_eq!(got, &[1.5, -2.0, 0.0]);
        buf[off + 1..off + 13].copy_from_slice(&bytes);
        assert!(try_borrow::<f32>(&buf[off + 1..off + 13]).is_none());
        assert!(try_borrow::<f32>(&buf[off..off + 11]).is_none());
        let dec: Vec<f32> = decode(&buf[off + 1..off + 13]);
        assert_eq!(dec, vec![1.5, -2.0, 0.0]);
        let h: Vec<f16> = decode(&[0x00, 0x3c]);
        assert_eq!(h[0].to_f32(), 1.0);
        let i: &[i8] = try_borrow(&[0xff_u8, 0x01]).expect("i8 always aligned");
        assert_eq!(i, &[-1, 1]);
    }
}
