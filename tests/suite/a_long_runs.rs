//! The two long tests, named to sort first. libtest starts tests in name order on as
//! many threads as there are cores, so a long test named late runs alone at the end of
//! the suite: the README's full tour (2 threads, about 2 minutes in CI) and the golden
//! runs (one thread, about a minute) start here beside the short tests instead.

#[test]
fn golden_runs_print_the_recorded_numbers() {
    crate::golden::every_trainer_prints_the_recorded_numbers();
}

#[test]
fn readme_tour_block_is_what_the_tour_prints() {
    crate::readme::the_readme_tour_block_is_what_the_tour_prints();
}
