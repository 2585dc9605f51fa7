//! The sandbox helper as a standalone binary, so this crate's integration tests can run jobs
//! (the real one is `cairn __sandbox`, in another crate).

fn main() {
    std::process::exit(cairn_sandbox::helper_main());
}
