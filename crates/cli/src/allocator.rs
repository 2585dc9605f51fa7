//! The builder's allocator and how it gives memory back. Every `unsafe` of the binary crate is
//! here, each with its safety argument.
//!
//! mimalloc, because planning allocates many small strings and it is markedly faster at that
//! than the system allocator (`benches/parse_lower.rs`). Its third version keeps freed pages
//! for a second (`purge_delay` 1000 ms) before it gives them back: a build's phases (scan the
//! context, plan a copy from its last record, read the copy's report) each free what the next
//! does not need, and all of it stayed resident — a one-file change of a 100,000-file context
//! peaked at 82–87 MB resident with the default and 54 MB with immediate purging, no slower
//! (5.3–5.4 s either way); a no-op at 51–65 MB and 43 MB. Planning 100,000 instructions, the
//! most allocation-bound thing cairn does, costs 0.40 s instead of 0.35 s with it. So the
//! builder purges at once by default; `MIMALLOC_PURGE_DELAY` in the environment still wins.

#![allow(unsafe_code)]

use libmimalloc_sys as sys;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc 3's `mi_option_purge_delay`: the crate exposes no constant for it ("for stability
/// reasons"); `tests::the_purge_delay_option_is_the_one_the_environment_sets` checks this index
/// against the environment variable mimalloc maps to it.
const PURGE_DELAY: sys::mi_option_t = 15;

/// Give freed memory back at once (see the module documentation), unless the environment
/// says otherwise (mimalloc reads `MIMALLOC_PURGE_DELAY`, in any case, or its legacy name
/// when the process loads; a default does not override what it read). Call first thing in
/// `main`, before any thread exists.
pub fn purge_at_once() {
    // SAFETY: `mi_option_set_default` writes one option word unless the environment set it;
    // it is "not thread safe" only in that another thread reading options at the same moment
    // could see either value, and no other thread exists yet (this runs before anything
    // spawns one). The index is checked by test.
    unsafe { sys::mi_option_set_default(PURGE_DELAY, 0) };
}

/// The purge delay mimalloc uses now, in milliseconds.
#[cfg(test)]
fn purge_delay() -> std::ffi::c_long {
    // SAFETY: `mi_option_get` reads one option word (initializing it from the environment the
    // first time); a concurrent `mi_option_set` could only make it read either value.
    unsafe { sys::mi_option_get(PURGE_DELAY) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sets the default as `main` does and prints the purge delay, when run as
    /// `CAIRN_PRINT_PURGE_DELAY=1 <test binary> <this>`.
    #[test]
    fn print_purge_delay_when_asked() {
        if std::env::var_os("CAIRN_PRINT_PURGE_DELAY").is_some() {
            purge_at_once();
            outln!("purge-delay={}", purge_delay());
        }
    }

    /// The purge delay a fresh process ends up with after [`purge_at_once`], with `env`.
    fn delay_in_a_process_with(env: &[(&str, &str)]) -> String {
        let exe = std::env::current_exe().expect("test binary");
        let mut cmd = std::process::Command::new(exe);
        cmd.args([
            "allocator::tests::print_purge_delay_when_asked",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("CAIRN_PRINT_PURGE_DELAY", "1")
        .env_remove("MIMALLOC_PURGE_DELAY")
        .env_remove("MIMALLOC_RESET_DELAY");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("run the test binary");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    #[test]
    fn the_purge_delay_option_is_the_one_the_environment_sets() {
        // mimalloc reads MIMALLOC_PURGE_DELAY when the process loads: a process with it set
        // must see it at PURGE_DELAY, and keep it (the default does not override it) — also
        // under its legacy name, and in lower case.
        for var in [
            "MIMALLOC_PURGE_DELAY",
            "MIMALLOC_RESET_DELAY",
            "mimalloc_purge_delay",
        ] {
            let text = delay_in_a_process_with(&[(var, "4321")]);
            assert!(text.contains("purge-delay=4321"), "{var}: {text}");
        }
        // Without it: at once.
        let text = delay_in_a_process_with(&[]);
        assert!(text.contains("purge-delay=0"), "{text}");
    }
}
