"""What a run records in its directory:

    run_record          summary.json (read/write), the resolved config record, failure records
    run_summary         RunSummaryCallback: final metrics, parameter counts, status into summary.json and W&B
    best_metrics        BestTracker: the best value of each metric, and W&B's summary of it
    provenance          versions, git state and device of the run
    resume_validation   ValidateWhatWasDue: a resumed run first runs the validation a kill interrupted
    sweep_status        what a re-launched sweep does with each job (done, resumed, rerun, new), and its table
"""
