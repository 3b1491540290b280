fn main() {
    print!("{}", ecs_operator::api::crds_yaml().expect("yaml"));
}
