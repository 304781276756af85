//! The tablet app's built files are embedded in the release binary (`app_files.rs`): a file
//! added to or removed from `client/dist` changes the folder, and has to rebuild the binary.
fn main() {
    println!("cargo:rerun-if-changed=../client/dist");
}
