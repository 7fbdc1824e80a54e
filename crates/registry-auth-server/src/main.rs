//! The `registry-auth` binary; see the library target for the code.

fn main() -> std::process::ExitCode {
    registry_auth_server::main()
}
