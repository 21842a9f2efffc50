//! Per-store resource limits, remembering which one a guest ran into.

use wasmtime::ResourceLimiter;

/// Caps linear memory per instance and records a refusal, so the turn's error can say
/// "memory limit" instead of the guest's own abort message.
pub struct MemoryLimiter {
    pub max_memory_bytes: usize,
    pub memory_refused: bool,
    /// The size the instance's linear memories have grown to, together.
    pub memory_bytes: usize,
}

impl MemoryLimiter {
    pub fn new(max_memory_bytes: usize) -> Self {
        MemoryLimiter {
            max_memory_bytes,
            memory_refused: false,
            memory_bytes: 0,
        }
    }

    /// Start a new turn on a kept instance, under the tenant's current limit.
    pub fn reset(&mut self, max_memory_bytes: usize) {
        self.max_memory_bytes = max_memory_bytes;
        self.memory_refused = false;
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_memory_bytes {
            self.memory_refused = true;
            return Ok(false);
        }
        self.memory_bytes += desired.saturating_sub(current);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Tables hold function references; 100k entries is far beyond any real guest.
        Ok(desired <= 100_000)
    }
}
