//! `cairn-test-registries DIR`: start the registries the whole test run shares and keep them
//! up. Started in the background by `scripts/registries.sh` (which `scripts/test.sh` and
//! `.ci/run` use); stopped by killing its process group.
//!
//! In `DIR`: `plain/`, `basic/` and `bearer/` (each a `docker-registry`'s config, storage and
//! log), and `env`, written last and atomically, exporting the addresses the tests read
//! (see `cairn_testkit::shared`). Exits non-zero if a registry dies.
// A test tool: it prints the registries' addresses, and a set-up that fails stops it.
#![allow(clippy::expect_used)]
#![allow(clippy::disallowed_macros)]

use cairn_testkit::{BearerGateway, SHARED_PASSWORD, SHARED_USER, TestRegistry};
use std::path::PathBuf;
use std::time::Duration;

fn main() {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: cairn-test-registries DIR");
        std::process::exit(2);
    };
    let sub = |name: &str| {
        let d = dir.join(name);
        std::fs::create_dir_all(&d).expect("create registry directory");
        d
    };
    let mut plain = TestRegistry::start_in(&sub("plain"), None);
    let mut basic = TestRegistry::start_in(&sub("basic"), Some((SHARED_USER, SHARED_PASSWORD)));
    let mut behind = TestRegistry::start_in(&sub("bearer"), None);
    let gateway = BearerGateway::start(behind.port, SHARED_USER, SHARED_PASSWORD);

    let q = |p: PathBuf| format!("'{}'", p.display());
    let env = format!(
        "export CAIRN_TEST_REGISTRY={}\n\
         export CAIRN_TEST_REGISTRY_STORAGE={}\n\
         export CAIRN_TEST_REGISTRY_BASIC={}\n\
         export CAIRN_TEST_REGISTRY_BASIC_STORAGE={}\n\
         export CAIRN_TEST_REGISTRY_BEARER={}\n\
         export CAIRN_TEST_REGISTRY_BEARER_STORAGE={}\n",
        plain.host(),
        q(plain.storage()),
        basic.host(),
        q(basic.storage()),
        gateway.host(),
        q(behind.storage()),
    );
    let tmp = dir.join("env.tmp");
    std::fs::write(&tmp, env).expect("write env");
    std::fs::rename(&tmp, dir.join("env")).expect("publish env");
    println!(
        "registries up: plain {}, basic {}, bearer {} (in front of {})",
        plain.host(),
        basic.host(),
        gateway.host(),
        behind.host()
    );
    loop {
        std::thread::sleep(Duration::from_secs(1));
        for (name, reg) in [
            ("plain", &mut plain),
            ("basic", &mut basic),
            ("bearer", &mut behind),
        ] {
            if let Some(status) = reg.exited() {
                eprintln!("the {name} registry exited ({status}); see {name}/registry.log");
                std::process::exit(1);
            }
        }
    }
}
