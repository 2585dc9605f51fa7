//! BuildKit's `dockerfile_resources_test.go`, `dockerfile_runnetwork_test.go`,
//! `dockerfile_runsecurity_test.go`, `dockerfile_secrets_test.go` and
//! `dockerfile_ssh_test.go`: what a RUN step gets — /dev/shm and ulimits, networks,
//! capabilities, devices, secrets and ssh sockets with their modes and owners.

use super::super::fixture::{Env, context, out_dir};
use std::io::Write as _;

/// Build `dockerfile` with `args` to a local directory; the built tree or the error text.
fn build(
    env: &Env,
    dockerfile: &str,
    args: &[&str],
) -> Result<(tempfile::TempDir, std::path::PathBuf), String> {
    let c = context(&[("Dockerfile", dockerfile)]);
    let (t, out) = out_dir();
    let dest = format!("--output=type=local,dest={}", out.display());
    let mut flags = args.to_vec();
    flags.push(&dest);
    let b = env.build(c.path(), &flags);
    if b.success {
        Ok((t, out))
    } else {
        Err(b.stderr)
    }
}

#[test]
fn shm_size_and_ulimit_reach_the_step() {
    // testShmSize, testUlimit.
    let env = Env::new();
    let (_t, out) = build(
        &env,
        "FROM busybox AS base\nRUN mount | grep /dev/shm > /shmsize\nFROM scratch\nCOPY --from=base /shmsize /\n",
        &["--shm-size", "134217728"],
    )
    .expect("build");
    let shm = std::fs::read_to_string(out.join("shmsize")).expect("shmsize");
    assert!(shm.contains("size=131072k"), "{shm}");
    let (_t, out) = build(
        &env,
        "FROM busybox AS base\nRUN ulimit -n > /ulimit\nFROM scratch\nCOPY --from=base /ulimit /\n",
        &["--ulimit", "nofile=1062:1062"],
    )
    .expect("build");
    assert_eq!(
        std::fs::read_to_string(out.join("ulimit"))
            .expect("ulimit")
            .trim(),
        "1062"
    );
}

/// A server on the host's 127.0.0.1 that answers every connection with `foo`.
fn echo_server() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            let _ = s.write_all(b"foo\n");
        }
    });
    port
}

#[test]
fn default_none_host_and_global_networks() {
    // testRunDefaultNetwork, testRunNoNetwork, testRunHostNetwork, testRunGlobalNetwork.
    let env = Env::new();
    build(&env, "FROM busybox\nRUN ip link show eth0\n", &[]).expect("default network has eth0");
    build(
        &env,
        "FROM busybox\nRUN --network=none ! ip link show eth0\nRUN ip link show eth0\n",
        &[],
    )
    .expect("none has no eth0");
    let port = echo_server();
    let host = format!(
        "FROM busybox\nRUN --network=host nc 127.0.0.1 {port} | grep foo\nRUN ! nc 127.0.0.1 {port} | grep foo\n"
    );
    build(&env, &host, &["--allow", "network.host"]).expect("host network with the entitlement");
    let e = build(&env, &host, &[]).expect_err("host network without the entitlement");
    assert!(e.contains("network.host"), "{e}");
    let global = format!(
        "FROM busybox\nRUN nc 127.0.0.1 {port} | grep foo\nRUN --network=none ! nc -z 127.0.0.1 {port}\n"
    );
    build(
        &env,
        &global,
        &["--network=host", "--allow", "network.host"],
    )
    .expect("--network=host for every step");
}

#[test]
fn security_modes_and_their_capabilities() {
    // testRunSecurityInsecure, testRunSecuritySandbox, testRunSecurityDefault, and the device
    // half of testInsecureDevicesWhitelist (its fuse and mkfs parts need alpine packages).
    let env = Env::new();
    let default_caps =
        "RUN [ \"$(cat /proc/self/status | grep CapBnd)\" == \"CapBnd:\t00000000a80425fb\" ]\n";
    // BuildKit expects every capability (3fffffffff); a step cannot have more than cairn has
    // itself, and some CI containers lack a few (CAP_SYS_RESOURCE here): all of cairn's.
    let status = std::fs::read_to_string("/proc/self/status").expect("status");
    let own = status
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .and_then(|h| u64::from_str_radix(h.trim(), 16).ok())
        .expect("CapBnd");
    let all = format!("{:x}", own & 0x3f_ffff_ffff);
    let insecure = format!(
        "FROM busybox\nRUN --security=insecure [ \"$(printf '%x' $(( $(cat /proc/self/status | grep CapBnd | cut -f 2 | sed s#^#0x#) & 0x3fffffffff)))\" == \"{all}\" ]\n{default_caps}"
    );
    build(&env, &insecure, &["--allow", "security.insecure"])
        .expect("insecure with the entitlement");
    let e = build(&env, &insecure, &[]).expect_err("insecure without the entitlement");
    assert!(e.contains("security.insecure"), "{e}");
    build(&env, "FROM busybox\nRUN --security=sandbox [ \"$(cat /proc/self/status | grep CapBnd)\" == \"CapBnd:\t00000000a80425fb\" ]\n", &[])
        .expect("sandbox capabilities");
    build(
        &env,
        &format!("FROM busybox\n{default_caps}"),
        &["--allow", "security.insecure"],
    )
    .expect("default capabilities even with the entitlement");
    build(
        &env,
        "FROM busybox\nRUN [ ! -e /dev/fuse ] && [ ! -e /dev/loop-control ]\nRUN --security=insecure [ -c /dev/loop-control ]\n",
        &["--allow", "security.insecure"],
    )
    .expect("devices only for insecure steps");
}

#[test]
fn secret_mounts_modes_owners_env_and_errors() {
    // testSecretFileParams, testSecretRequiredWithoutValue, testSecretAsEnvironWithFileMount.
    let env = Env::new();
    let dir = tempfile::tempdir().expect("tmp");
    let secret = dir.path().join("pw");
    std::fs::write(&secret, "pw").expect("write");
    let given = format!("id=mysecret,src={}", secret.display());
    build(
        &env,
        "FROM busybox\nRUN --mount=type=secret,required=false,mode=741,uid=100,gid=102,target=/mysecret [ \"$(stat -c \"%u %g %f\" /mysecret)\" = \"100 102 81e1\" ]\nRUN [ ! -f /mysecret ] # check no stub left behind\n",
        &["--secret", &given],
    )
    .expect("secret file params");
    let e = build(
        &env,
        "FROM busybox \n\t\tRUN --mount=type=secret,required,id=mysecret foo",
        &[],
    )
    .expect_err("a required secret missing");
    assert!(e.contains("secret mysecret: not found"), "{e}");
    build(
        &env,
        "FROM busybox\nRUN --mount=type=secret,id=mysecret,target=/run/secrets/secret,env=SECRET_ENV [ \"$SECRET_ENV\" == \"pw\" ] && [ -f /run/secrets/secret ] || false\n",
        &["--secret", &given],
    )
    .expect("secret as env and file");
}

#[test]
fn ssh_socket_params_with_a_key_file() {
    // testSSHSocketParams: the key file is loaded into an agent cairn runs for the build.
    let dir = tempfile::tempdir().expect("tmp");
    let key = dir.path().join("key");
    let keygen = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "rsa", "-b", "2048", "-m", "PEM", "-N", "", "-f"])
        .arg(&key)
        .status()
        .expect("ssh-keygen");
    assert!(keygen.success());
    let env = Env::new();
    let given = format!("default={}", key.display());
    build(
        &env,
        "FROM busybox\nRUN --mount=type=ssh,mode=741,uid=100,gid=102 [ \"$(stat -c \"%u %g %f\" $SSH_AUTH_SOCK)\" = \"100 102 c1e1\" ]\n",
        &["--ssh", &given],
    )
    .expect("ssh socket params");
}

#[test]
fn a_secret_as_env_is_masked_in_the_step_name() {
    // testSecretAsEnviron.
    let env = Env::new();
    let dir = tempfile::tempdir().expect("tmp");
    let secret = dir.path().join("pw");
    std::fs::write(&secret, "pw").expect("write");
    let c = context(&[(
        "Dockerfile",
        "FROM busybox\nENV SECRET_ENV=foo\nRUN --mount=type=secret,id=mysecret,env=SECRET_ENV [ \"$SECRET_ENV\" == \"pw\" ] && [ ! -f /run/secrets/mysecret ] || false\n",
    )]);
    let b = env.build_ok(
        c.path(),
        &["--secret", &format!("id=mysecret,src={}", secret.display())],
    );
    let names = b.ran();
    let step = names
        .iter()
        .find(|n| n.contains("/run/secrets/mysecret"))
        .expect("the RUN step");
    assert!(step.contains("[ \"****\" == \"pw\" ] && "), "{step}");
}
