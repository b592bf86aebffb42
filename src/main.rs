//! The `ebm` command: parse, dispatch, print errors on one line.

mod cli;

fn main() {
    // A closed pipe (`ebm ... | head`) ends the program quietly, as for other Unix tools,
    // instead of a panic message from `println!`.
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
    if let Err(e) = cli::run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
