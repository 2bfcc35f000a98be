//! `'static` storage initialised at run time: [`Static`] lives in `.bss` (zero bytes, so it
//! costs no flash), unlike a `static` with a non-zero `const` initialiser, which the linker
//! puts in `.data` and copies from flash at reset. The engines' and the bank's shared state
//! have such initialisers (enum niches, `true` flags): 13.7 KB of flash saved.
//!
//! And [`Forever`], which lets a task hand its runner's future to the executor directly: an
//! `async fn` task taking the runner by value would keep the moved-from argument *and* the
//! runner's future in its state, twice the RAM.

use core::cell::UnsafeCell;
use core::future::Future;
use core::mem::MaybeUninit;
use core::pin::Pin;
use core::sync::atomic::{AtomicBool, Ordering};
use core::task::{Context, Poll};

/// A `'static` value written once at run time.
pub(crate) struct Static<T> {
    taken: AtomicBool,
    value: UnsafeCell<MaybeUninit<T>>,
}

// SAFETY: the value is written once, guarded by `taken`, before any shared reference to it
// exists; afterwards only `&T` is handed out, so `T: Sync` suffices.
unsafe impl<T: Sync> Sync for Static<T> {}

impl<T> Static<T> {
    pub(crate) const fn new() -> Self {
        Self {
            taken: AtomicBool::new(false),
            value: UnsafeCell::new(MaybeUninit::uninit()),
        }
    }

    /// Stores `value` and returns it for the rest of the program; `None` if already done.
    pub(crate) fn init(&'static self, value: T) -> Option<&'static T> {
        self.init_with(|| value)
    }

    /// Stores what `f` makes (built in place where the optimiser can, rather than on the stack
    /// and copied) and returns it for the rest of the program; `None` if already done.
    pub(crate) fn init_with(&'static self, f: impl FnOnce() -> T) -> Option<&'static T> {
        if self.taken.swap(true, Ordering::AcqRel) {
            return None;
        }
        // SAFETY: the swap above makes this the only access to `value`, ever; it is then
        // initialised and never written again.
        Some(unsafe { (*self.value.get()).write(f()) })
    }
}

/// A `'static` value with a `const` initialiser that is handed out once as `&'static mut`
/// (for caller-allocated buffers such as `bank::LinkMemory`); all-zero values land in `.bss`.
pub(crate) struct StaticMut<T> {
    taken: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: `take` hands out the only reference, once; the value is never touched otherwise.
unsafe impl<T: Send> Sync for StaticMut<T> {}

impl<T> StaticMut<T> {
    pub(crate) const fn new(value: T) -> Self {
        Self {
            taken: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    /// The value, mutably, for the rest of the program; `None` after the first call.
    // `&self` → `&mut T` is sound here: the flag makes this the only `&mut` ever handed out.
    #[allow(clippy::mut_from_ref)]
    pub(crate) fn take(&'static self) -> Option<&'static mut T> {
        if self.taken.swap(true, Ordering::AcqRel) {
            return None;
        }
        // SAFETY: the swap above makes this the only reference ever made.
        Some(unsafe { &mut *self.value.get() })
    }
}

/// A future that never completes (a runner's `run()`), seen as one with output `()` as the
/// executor's task functions want.
pub(crate) struct Forever<F>(pub(crate) F);

impl<F: Future> Future for Forever<F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // SAFETY: structural pinning of the only field; it is never moved out.
        let inner = unsafe { self.map_unchecked_mut(|s| &mut s.0) };
        inner.poll(cx).map(|_| ())
    }
}
