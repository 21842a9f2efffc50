fn main() {
    println!("I am not an actor");
}
