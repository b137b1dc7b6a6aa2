//! Options of an example binary that the asset CLI does not know: taken out of the arguments
//! and passed on as dlt-style config (environment variables) to a re-run of the binary.

#![allow(dead_code)]

use std::process::ExitCode;

/// Removes `--name value` (or `--name=value`) from the arguments.
pub fn take_option(name: &str) -> Option<(String, Vec<std::ffi::OsString>)> {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let prefix = format!("{name}=");
    for i in 0..args.len() {
        let a = args[i].to_string_lossy().into_owned();
        if a == name && i + 1 < args.len() {
            let value = args[i + 1].to_string_lossy().into_owned();
            args.drain(i..=i + 1);
            return Some((value, args));
        }
        if let Some(value) = a.strip_prefix(&prefix) {
            args.remove(i);
            return Some((value.to_owned(), args));
        }
    }
    None
}

/// Runs this binary again with `args` and one more environment variable (the asset CLI parses
/// the process's own arguments, so options of the example are passed on as config).
pub fn rerun_with(args: Vec<std::ffi::OsString>, var: &str, value: &std::ffi::OsStr) -> ExitCode {
    let exe = std::env::current_exe().expect("path of this binary");
    let mut cmd = std::process::Command::new(exe);
    cmd.args(args).env(var, value);
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let err = cmd.exec();
        eprintln!("error: cannot run {var}=...: {err}");
        ExitCode::FAILURE
    }
    #[cfg(not(unix))]
    match cmd.status() {
        Ok(s) if s.success() => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
