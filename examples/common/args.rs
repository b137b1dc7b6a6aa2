//! Options of an example binary that the asset CLI does not know: taken out of the arguments
//! (then passed on as dlt-style config, an environment variable) before `etl::main_from` parses
//! the rest.

#![allow(dead_code)]

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
