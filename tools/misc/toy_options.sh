# Sourced by the toy scripts (tools/toy_demo.sh,
# tools/analysis_tools/toy_detect_retrieve.sh): the cfg-options that point the
# toy retrieval configs at a data root or shorten their schedule, and a
# quiet runner.

# toy_data_opts DATA: sets TOY_DATA_OPTS (every dataloader of a retrieval
# config, galleries included, reads DATA).
toy_data_opts() {
    TOY_DATA_OPTS=(
        "train_dataloader.dataset.data_root=$1"
        "val_dataloader.dataset.data_root=$1"
        "test_dataloader.dataset.data_root=$1"
        "val_cfg.gallery_dataloader.dataset.data_root=$1"
        "test_cfg.gallery_dataloader.dataset.data_root=$1"
    )
}

# toy_schedule_opts EPOCHS: sets TOY_SCHEDULE_OPTS (the toy recipe's
# schedule cut to EPOCHS, its 2 warmup epochs kept; validation and the
# checkpoint at the end).
toy_schedule_opts() {
    TOY_SCHEDULE_OPTS=(
        "train_cfg.max_epochs=$1" "train_cfg.val_interval=$1"
        "param_scheduler.1.T_max=$(($1 - 2))" "param_scheduler.1.end=$1"
        "default_hooks.checkpoint.interval=$1"
    )
}

# run_quiet LOG CMD...: run CMD with its output in LOG; if it fails, print
# the end of LOG and exit.
run_quiet() {
    local log="$1"; shift
    "$@" > "$log" 2>&1 || { tail -60 "$log"; exit 1; }
}
