fn main() {
    println!("static");
}
