//! What an instance makes resident, counted as the page faults taken while it runs.
//!
//! wasmtime does not say where an instance's linear memories and tables lie, so their
//! dirty pages cannot be scanned from outside. Every page an instance makes resident,
//! though, costs one minor fault on the thread running it: a copy-on-write copy of its
//! memory image, a zero page it writes, a table page lazily initialized. Counting the
//! faults of the polls that run its turns measures its private memory; pages of its image
//! it only reads are counted too, which errs on the side of charging more.
//!
//! Reading the count costs a system call (about 1.5 µs here), twice per poll: more than a
//! Rust actor's whole turn. So the turn that instantiates is measured (it makes nearly
//! everything resident), and after it one turn in [`SAMPLE_EVERY`], whose faults stand
//! for the turns between.

use std::future::Future;
use std::pin::pin;

/// The size of a page, as the faults count them.
pub(crate) const PAGE_BYTES: u64 = 4096;

/// One turn in this many of a kept instance is measured.
pub(crate) const SAMPLE_EVERY: u64 = 16;

/// What an instance has made resident, as far as its measured turns tell.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Resident {
    pages: u64,
    turns: u64,
}

impl Resident {
    /// How much the faults of the next turn weigh, or `None` when it is not measured.
    pub(crate) fn next_weight(&self) -> Option<u64> {
        match self.turns {
            0 => Some(1),
            n if n % SAMPLE_EVERY == 0 => Some(SAMPLE_EVERY),
            _ => None,
        }
    }

    /// After a turn that took `faults` (`None`: not measured), under `weight`.
    pub(crate) fn after(self, faults: Option<u64>, weight: Option<u64>) -> Resident {
        let added = faults.unwrap_or(0).saturating_mul(weight.unwrap_or(0));
        Resident {
            pages: self.pages.saturating_add(added),
            turns: self.turns + 1,
        }
    }

    /// The memory it is charged for, in bytes.
    pub(crate) fn bytes(&self) -> u64 {
        self.pages.saturating_mul(PAGE_BYTES)
    }
}

/// Run `future`, counting the minor page faults its polls take on their threads when
/// `measure` (else the count is `None` and costs nothing).
pub(crate) async fn metered<F: Future>(future: F, measure: bool) -> (F::Output, Option<u64>) {
    if !measure {
        return (future.await, None);
    }
    let mut future = pin!(future);
    let mut faults = 0u64;
    let output = std::future::poll_fn(|cx| {
        let before = thread_minor_faults();
        let poll = future.as_mut().poll(cx);
        faults += thread_minor_faults().saturating_sub(before);
        poll
    })
    .await;
    (output, Some(faults))
}

/// Minor page faults the calling thread has taken so far.
#[cfg(target_os = "linux")]
fn thread_minor_faults() -> u64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the `rusage` it is pointed at, which is zeroed already.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_THREAD, usage.as_mut_ptr()) };
    if rc != 0 {
        return 0;
    }
    // SAFETY: zeroed and then written by the kernel: every field is initialized.
    let usage = unsafe { usage.assume_init() };
    u64::try_from(usage.ru_minflt).unwrap_or(0)
}

/// Elsewhere no per-thread count exists: instances are charged their fixed allowance only.
#[cfg(not(target_os = "linux"))]
fn thread_minor_faults() -> u64 {
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn touching_fresh_pages_is_counted() {
        let pages = 256;
        let (_, faults) = metered(
            async {
                let mut block = vec![0u8; pages * PAGE_BYTES as usize];
                for page in block.chunks_mut(PAGE_BYTES as usize) {
                    page[0] = 1;
                }
                std::hint::black_box(&block);
            },
            true,
        )
        .await;
        let faults = faults.unwrap();
        assert!(
            faults >= pages as u64 / 2,
            "{faults} faults for {pages} pages"
        );
        assert_eq!(metered(async {}, false).await.1, None);
    }

    #[test]
    fn the_first_turn_and_one_in_sample_every_are_measured() {
        let mut resident = Resident::default();
        assert_eq!(resident.next_weight(), Some(1));
        resident = resident.after(Some(100), Some(1));
        for _ in 1..SAMPLE_EVERY {
            assert_eq!(resident.next_weight(), None);
            resident = resident.after(None, None);
        }
        assert_eq!(resident.next_weight(), Some(SAMPLE_EVERY));
        resident = resident.after(Some(2), Some(SAMPLE_EVERY));
        assert_eq!(resident.bytes(), (100 + 2 * SAMPLE_EVERY) * PAGE_BYTES);
    }
}
