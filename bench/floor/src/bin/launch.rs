//! launch CMD [ARG]...: runs CMD, then prints one line
//!
//!   @launch start T0 end T1 maxrss KIB utime U stime S status CODE
//!
//! T0/T1 are CLOCK_MONOTONIC seconds just before the fork and just after the
//! child was reaped (the same clock as Python's time.monotonic(), so bench/run
//! can place CMD's own output lines between them); KIB is the child's peak RSS
//! from wait4 (for a shell, the largest of it and the children it waited for);
//! U and S its CPU time in user space and in the kernel, in seconds (with the
//! children it waited for). Kernel work done elsewhere (softirqs on the other
//! CPU, kworkers) is not in S.
//!
//! Why not wait4 from Python: the kernel carries the peak RSS of the image a
//! process exec'd from over into the new one, so every child of a Python
//! runner would report at least Python's own ~14 MB. This launcher is small
//! and freshly exec'd, so what it forks starts from ~1 MB.

use std::process::Command;

fn now() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: writes into a local struct.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((cmd, rest)) = args.split_first() else {
        eprintln!("usage: launch CMD [ARG]...");
        std::process::exit(2);
    };
    let t0 = now();
    let child = match Command::new(cmd).args(rest).spawn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("launch: cannot start {cmd}: {e}");
            std::process::exit(127);
        }
    };
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: zeroed rusage is a valid out-parameter.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let r = loop {
        // SAFETY: waits for our own child.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
        if r >= 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            break r;
        }
    };
    let t1 = now();
    if r < 0 {
        eprintln!("launch: wait4: {}", std::io::Error::last_os_error());
        std::process::exit(1);
    }
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        128 + libc::WTERMSIG(status)
    };
    let secs = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 * 1e-6;
    println!(
        "@launch start {t0:.6} end {t1:.6} maxrss {} utime {:.6} stime {:.6} status {code}",
        ru.ru_maxrss,
        secs(ru.ru_utime),
        secs(ru.ru_stime)
    );
    std::process::exit(code);
}
