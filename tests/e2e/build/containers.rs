//! `cairn run` / `commit` / `ps` / `rm`: a command in an image, confined as a RUN step, and
//! its writable layer made into an image as `docker container commit` does.

use super::fixture::Env;
use crate::util::cairn;

fn run(env: &Env, args: &[&str]) -> (i32, String, String) {
    let out = cairn()
        .arg("run")
        .arg("--root")
        .arg(env.root())
        .args(args)
        .output()
        .expect("cairn run");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn cmd(env: &Env, args: &[&str]) -> String {
    let out = cairn()
        .args(args)
        .arg("--root")
        .arg(env.root())
        .output()
        .expect("cairn");
    assert!(
        out.status.success(),
        "cairn {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn run_gives_output_exit_code_and_a_steps_confinement() {
    let env = Env::new();
    let (code, out, err) = run(
        &env,
        &["busybox", "sh", "-c", "echo out; echo err >&2; exit 7"],
    );
    assert_eq!((code, out.as_str(), err.as_str()), (7, "out\n", "err\n"));
    // The same confinement as a RUN step: docker's capabilities, seccomp, no terminal.
    let (code, out, err) = run(
        &env,
        &[
            "--rm",
            "busybox",
            "sh",
            "-c",
            "grep -E '^(CapEff|Seccomp):' /proc/self/status | tr -s '\\t' ' '; \
             (echo x > /dev/tty) 2>/dev/null && echo tty-open || echo no-tty; \
             (echo 1 > /proc/sys/kernel/core_pattern) 2>/dev/null && echo proc-writable || echo proc-ro",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("CapEff: 00000000a80425fb"), "{out}");
    assert!(out.contains("Seccomp: 2"), "{out}");
    assert!(out.contains("no-tty") && out.contains("proc-ro"), "{out}");
    // Environment, working directory, user, network.
    let (code, out, err) = run(
        &env,
        &[
            "--rm",
            "--network",
            "none",
            "-e",
            "GREETING=hi",
            "-w",
            "/tmp",
            "-u",
            "1000",
            "busybox",
            "sh",
            "-c",
            "echo $GREETING $(pwd) $(id -u) $(ls /sys/class/net | tr '\\n' ' ')",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "hi /tmp 1000 lo");
    let (code, _, err) = run(&env, &["--network", "host", "busybox", "true"]);
    assert!(code != 0 && err.contains("--allow network.host"), "{err}");
    let (code, _, err) = run(&env, &["nothing-here:1", "true"]);
    assert!(code != 0 && err.contains("nothing-here"), "{err}");
}

#[test]
fn commit_makes_an_image_of_the_writable_layer() {
    let env = Env::new();
    let (code, _, err) = run(
        &env,
        &[
            "--name",
            "maker",
            "busybox",
            "sh",
            "-c",
            "echo made > /made.txt; rm /bin/vi; mkdir -p /srv/app",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let ps = cmd(&env, &["ps", "-a"]);
    assert!(ps.contains("maker") && ps.contains("Exited (0)"), "{ps}");
    assert!(!cmd(&env, &["ps"]).contains("maker"));
    let id = cmd(
        &env,
        &[
            "commit",
            "-m",
            "add made.txt",
            "-a",
            "me",
            "maker",
            "made:1",
        ],
    );
    assert!(id.trim().starts_with("sha256:"), "{id}");
    // The new image: the file, the deletion (a whiteout), one more layer, a history entry.
    let (code, out, err) = run(
        &env,
        &[
            "--rm",
            "made:1",
            "sh",
            "-c",
            "cat /made.txt; ls /bin/vi 2>&1 || true; ls -d /srv/app",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("made\n") && out.contains("/srv/app"),
        "{out}"
    );
    assert!(!out.contains("\n/bin/vi\n"), "vi came back: {out}");
    let inspect: serde_json::Value =
        serde_json::from_str(&cmd(&env, &["inspect", "made:1"])).expect("inspect JSON");
    let image = &inspect[0];
    let layers = |v: &serde_json::Value| v["RootFS"]["Layers"].as_array().map_or(0, Vec::len);
    let base: serde_json::Value =
        serde_json::from_str(&cmd(&env, &["inspect", "busybox"])).expect("inspect JSON");
    assert_eq!(layers(image), layers(&base[0]) + 1, "{image}");
    assert_eq!(image["Author"], "me", "{image}");
    let history = cmd(&env, &["inspect", "made:1"]);
    assert!(history.contains("add made.txt"), "{history}");
    // docker loads and runs what commit made.
    let dir = tempfile::tempdir().expect("tempdir");
    let tar = dir.path().join("made.tar");
    let saved = cairn()
        .args(["save", "-o"])
        .arg(&tar)
        .arg("--root")
        .arg(env.root())
        .arg("made:1")
        .output()
        .expect("cairn save");
    assert!(
        saved.status.success(),
        "{}",
        String::from_utf8_lossy(&saved.stderr)
    );
    crate::util::run(
        std::process::Command::new("/usr/bin/docker")
            .arg("load")
            .arg("-i")
            .arg(&tar),
    );
    let shown = crate::util::run(std::process::Command::new("/usr/bin/docker").args([
        "run",
        "--rm",
        "--network=host",
        "made:1",
        "cat",
        "/made.txt",
    ]));
    assert_eq!(shown, "made\n");
    // --commit with --rm: an image, no container left.
    let (code, _, err) = run(
        &env,
        &[
            "--rm",
            "--commit",
            "second:1",
            "made:1",
            "sh",
            "-c",
            "echo two > /two.txt",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("committed docker.io/library/second:1"),
        "{err}"
    );
    let (_, out, _) = run(&env, &["--rm", "second:1", "cat", "/made.txt", "/two.txt"]);
    assert_eq!(out, "made\ntwo\n");
    assert_eq!(
        cmd(&env, &["ps", "-aq"]).lines().count(),
        1,
        "only maker is kept"
    );
    assert_eq!(cmd(&env, &["rm", "maker"]).trim(), "maker");
    assert!(cmd(&env, &["ps", "-a"]).lines().count() == 1);
}

#[test]
fn volumes_and_prune_keep_a_containers_layers() {
    let env = Env::new();
    let host = tempfile::tempdir().expect("tempdir");
    let rw = host.path().join("rw");
    let ro = host.path().join("ro");
    std::fs::create_dir_all(&ro).expect("mkdir");
    std::fs::write(ro.join("in.txt"), "from host\n").expect("write");
    let (code, out, err) = run(
        &env,
        &[
            "--rm",
            "-v",
            &format!("{}:/out", rw.display()),
            "-v",
            &format!("{}:/in:ro", ro.display()),
            "busybox",
            "sh",
            "-c",
            "cat /in/in.txt; echo written > /out/result.txt; (echo x > /in/nope) 2>/dev/null || echo ro-refused",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "from host\nro-refused\n");
    assert_eq!(
        std::fs::read_to_string(rw.join("result.txt")).expect("written on the host"),
        "written\n"
    );
    // A kept container's image layers are in use: removing the image and pruning everything
    // leaves them, and the container still commits.
    let made = cairn()
        .args(["build", "--progress=quiet", "-t", "base2:1", "--root"])
        .arg(env.root())
        .arg(
            super::fixture::context(&[(
                "Dockerfile",
                "FROM busybox\nRUN echo layer > /layer.txt\n",
            )])
            .path(),
        )
        .output()
        .expect("cairn build");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let (code, _, err) = run(&env, &["--name", "keeper", "base2:1", "touch", "/kept"]);
    assert_eq!(code, 0, "{err}");
    cmd(&env, &["rmi", "base2:1"]);
    cmd(&env, &["prune", "--all"]);
    cmd(&env, &["commit", "keeper", "after-prune:1"]);
    let (code, out, err) = run(
        &env,
        &[
            "--rm",
            "after-prune:1",
            "sh",
            "-c",
            "cat /layer.txt; ls /kept",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "layer\n/kept\n");
}

#[test]
fn run_i_passes_stdin_through_a_pipe() {
    use std::io::Write as _;
    let env = Env::new();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(["run", "--rm", "-i", "--root"])
        .arg(env.root())
        .args([
            "busybox",
            "sh",
            "-c",
            "wc -l; readlink /proc/self/fd/0 | cut -d: -f1; ls /proc/self/fd | wc -l",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("cairn run");
    let mut input = child.stdin.take().expect("stdin");
    for i in 0..5000 {
        writeln!(input, "line {i}").expect("write");
    }
    drop(input);
    let out = child.wait_with_output().expect("wait");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    // Every line arrived; stdin is a pipe (not cairn's own descriptor); only 0–2 (+ ls's
    // own directory handle) are open.
    assert_eq!(lines.first(), Some(&"5000"), "{text}");
    assert_eq!(lines.get(1), Some(&"pipe"), "{text}");
    assert_eq!(lines.get(2), Some(&"4"), "{text}");
    // Without -i the command's stdin is /dev/null, whatever cairn's is.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(["run", "--rm", "--root"])
        .arg(env.root())
        .args(["busybox", "sh", "-c", "cat; readlink /proc/self/fd/0"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("cairn run");
    let mut input = child.stdin.take().expect("stdin");
    let _ = writeln!(input, "not for the command");
    drop(input);
    let out = child.wait_with_output().expect("wait");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "/dev/null\n");
}

#[test]
fn run_it_gives_the_command_a_terminal_of_its_own() {
    let env = Env::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let done = dir.path().join("done");
    let script = format!(
        "{} run --rm -it --root '{}' busybox sh; echo exit=$? > '{}'; sleep 600",
        env!("CARGO_BIN_EXE_cairn"),
        env.root().display(),
        done.display()
    );
    let tmux = super::tmux::Tmux::start(dir.path(), 90, 20, &script);
    tmux.wait_for("/ #", 30);
    let keys = |k: &str| {
        let ok = tmux
            .cmd()
            .args(["send-keys", "-t", "t", k, "Enter"])
            .status()
            .expect("tmux send-keys");
        assert!(ok.success());
    };
    // A terminal (the command's own: not the one cairn runs in), sized as the window.
    keys("[ -t 0 ] && echo is-a-$((3*7))-tty; stty size; readlink /proc/self/fd/1");
    let screen = tmux.wait_for("is-a-21-tty", 20);
    assert!(screen.contains("20 90"), "{screen}");
    // Resized: the command's terminal follows.
    let ok = tmux
        .cmd()
        .args(["resize-window", "-t", "t", "-x", "70", "-y", "15"])
        .status()
        .expect("tmux resize-window");
    assert!(ok.success());
    std::thread::sleep(std::time::Duration::from_millis(700));
    keys("stty size; exit 4");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !done.exists() {
        assert!(std::time::Instant::now() < deadline, "{}", tmux.capture());
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let screen = tmux.capture();
    assert!(screen.contains("15 70"), "{screen}");
    assert_eq!(
        std::fs::read_to_string(&done).unwrap_or_default().trim(),
        "exit=4",
        "{screen}"
    );
}
