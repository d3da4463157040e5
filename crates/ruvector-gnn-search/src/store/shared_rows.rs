//! An append-only buffer whose versions share one allocation: the store's
//! item matrix grows by the rows each insert adds, and every earlier
//! version (held by a search still running on it) keeps reading its own
//! prefix, so deriving the next version copies only the new rows instead of
//! the whole matrix (20 MB at 100K × 50 before this type).
//!
//! A version is a length into a shared [`Arena`]. The arena records how far
//! it has been written (`claimed`); appending to the version whose length
//! equals `claimed` writes into the spare capacity behind it, which no
//! version can see, and moves `claimed` on. Appending to any other version
//! (an older one, or when the capacity is used up) copies its prefix into a
//! new arena with room to grow (doubling, so the copies cost O(1) per
//! element amortised).

use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use ruvector_gnn_kernels::alloc::huge_capacity;

/// One allocation of `cap` elements, the first `claimed` of them written
/// (`T: Copy`: dropping it frees the buffer without dropping elements).
struct Arena<T: Copy> {
    ptr: NonNull<T>,
    cap: usize,
    /// Elements written so far: the longest version's length. Only grows.
    claimed: AtomicUsize,
}

// SAFETY: an `Arena` owns its buffer like a `Vec<T>` does. Shared access
// reads only elements below some version's length (written before that
// version existed and never written again); the one writer of a region is
// the thread whose compare-exchange on `claimed` reserved it, and no
// version covers that region until the writer has finished and created
// one. So sending or sharing it across threads is as safe as for `Vec<T>`.
unsafe impl<T: Copy + Send + Sync> Send for Arena<T> {}
// SAFETY: as for `Send` above.
unsafe impl<T: Copy + Send + Sync> Sync for Arena<T> {}

impl<T: Copy> Drop for Arena<T> {
    fn drop(&mut self) {
        // SAFETY: `ptr` and `cap` come from a `Vec<T>` taken apart in
        // `SharedRows::from_vec`; rebuilding it with length 0 frees the
        // buffer without dropping elements, which `T: Copy` does not need.
        unsafe {
            drop(Vec::from_raw_parts(self.ptr.as_ptr(), 0, self.cap));
        }
    }
}

/// A version of an append-only sequence of `T` (see the module docs).
/// Cloning is cheap (the allocation is shared).
pub(crate) struct SharedRows<T: Copy> {
    arena: Arc<Arena<T>>,
    len: usize,
}

impl<T: Copy> Clone for SharedRows<T> {
    fn clone(&self) -> Self {
        Self {
            arena: Arc::clone(&self.arena),
            len: self.len,
        }
    }
}

impl<T: Copy> std::fmt::Debug for SharedRows<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedRows")
            .field("len", &self.len)
            .field("capacity", &self.arena.cap)
            .finish()
    }
}

impl<T: Copy + Send + Sync> SharedRows<T> {
    /// The elements of `v` as the first version; its spare capacity is
    /// where later versions append.
    pub(crate) fn from_vec(v: Vec<T>) -> Self {
        let mut v = std::mem::ManuallyDrop::new(v);
        let (len, cap) = (v.len(), v.capacity());
        // `Vec::as_mut_ptr` is never null (dangling but aligned when the
        // capacity is 0).
        let ptr = NonNull::new(v.as_mut_ptr()).unwrap_or(NonNull::dangling());
        Self {
            arena: Arc::new(Arena {
                ptr,
                cap,
                claimed: AtomicUsize::new(len),
            }),
            len,
        }
    }

    /// This version's elements.
    pub(crate) fn as_slice(&self) -> &[T] {
        // SAFETY: the first `len` elements were written before this version
        // was created (by `from_vec` or by the `appended` call that made
        // it) and are never written again: every later write goes beyond
        // `claimed`, which is at least `len`. `ptr` is valid for `cap ≥ len`
        // elements while the arena lives, which `self` keeps alive.
        unsafe { std::slice::from_raw_parts(self.arena.ptr.as_ptr(), self.len) }
    }

    /// Number of elements in this version.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether two versions share their allocation (the later one was
    /// appended in place).
    #[cfg(test)]
    pub(crate) fn shares_with(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.arena, &other.arena)
    }

    /// A new version: this one's elements followed by `extra`. Writes
    /// `extra` behind this version in the shared allocation when this is
    /// the longest version and there is room; otherwise copies this
    /// version into a new allocation of twice the needed size.
    pub(crate) fn appended(&self, extra: &[T]) -> Self {
        if extra.is_empty() {
            return self.clone();
        }
        let new_len = self.len.saturating_add(extra.len());
        let a = &self.arena;
        if new_len <= a.cap
            && a.claimed
                .compare_exchange(self.len, new_len, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            // SAFETY: `[len, new_len)` lies inside the allocation (`new_len
            // ≤ cap`). The compare-exchange reserved it for this call alone:
            // it succeeds once per value of `claimed`, which only grows, and
            // no version can read this region since every version's length
            // is at most the `claimed` before the exchange (= `self.len`).
            // `extra` is a shared borrow, so it cannot overlap the region
            // nobody could borrow.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    extra.as_ptr(),
                    a.ptr.as_ptr().add(self.len),
                    extra.len(),
                );
            }
            return Self {
                arena: Arc::clone(a),
                len: new_len,
            };
        }
        let mut v: Vec<T> = huge_capacity(new_len.saturating_mul(2));
        v.extend_from_slice(self.as_slice());
        v.extend_from_slice(extra);
        Self::from_vec(v)
    }
}

impl<T: Copy + Send + Sync> std::ops::Deref for SharedRows<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        self.as_slice()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_keep_their_prefix_and_append_in_place_when_they_can() {
        let mut v = Vec::with_capacity(8);
        v.extend_from_slice(&[1u32, 2, 3]);
        let a = SharedRows::from_vec(v);
        let b = a.appended(&[4, 5]);
        assert!(b.shares_with(&a), "room behind the longest version");
        assert_eq!((&*a, &*b), (&[1, 2, 3][..], &[1, 2, 3, 4, 5][..]));
        // An older version cannot append in place (its tail is b's).
        let c = a.appended(&[9]);
        assert!(!c.shares_with(&a));
        assert_eq!((&*b, &*c), (&[1, 2, 3, 4, 5][..], &[1, 2, 3, 9][..]));
        // Filling the capacity exactly stays in place; one more copies.
        let d = b.appended(&[6, 7, 8]);
        assert!(d.shares_with(&a));
        let e = d.appended(&[10]);
        assert!(!e.shares_with(&d));
        assert_eq!(&*e, &[1, 2, 3, 4, 5, 6, 7, 8, 10][..]);
        assert_eq!(&*d, &[1, 2, 3, 4, 5, 6, 7, 8][..]);
        // The copy left room to append in place again.
        let f = e.appended(&[11]);
        assert!(f.shares_with(&e));
        assert_eq!(f.len(), 10);
        // Empty input and an empty first version.
        assert!(f.appended(&[]).shares_with(&f));
        let z = SharedRows::<u32>::from_vec(Vec::new());
        assert_eq!(&*z.appended(&[1, 2]), &[1, 2][..]);
    }

    #[test]
    fn concurrent_appends_to_one_version_each_get_their_own_rows() {
        let mut v = Vec::with_capacity(1 << 12);
        v.extend(0..100u64);
        let base = SharedRows::from_vec(v);
        let outs: Vec<SharedRows<u64>> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..4u64)
                .map(|t| {
                    let base = base.clone();
                    s.spawn(move || base.appended(&vec![1000 + t; 50]))
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        // Exactly one appended in place; every version reads what it was given.
        assert_eq!(outs.iter().filter(|o| o.shares_with(&base)).count(), 1);
        for (t, o) in outs.iter().enumerate() {
            assert_eq!(o.len(), 150);
            assert!(o[..100].iter().copied().eq(0..100));
            assert!(o[100..].iter().all(|&x| x == 1000 + t as u64));
        }
        assert!(base.iter().copied().eq(0..100));
    }
}
