# Sourced by the toy scripts (tools/toy_demo.sh,
# tools/analysis_tools/toy_detect_retrieve.sh): the cfg-options that shorten
# the toy retrieval recipe's schedule, and a quiet runner. (The tools'
# --data-root points every dataset of a config at the toy set.)

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
