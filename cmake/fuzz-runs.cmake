# Executions per fuzz target in its ctest (cmake/aiot.cmake aiot_fuzz, cmake/fuzz-ctest.sh):
# -seed=1 -runs=N over a fresh scratch corpus and the seed corpus. N is calibrated so that each
# target takes about 8-10 s on the 2-vCPU build machine (BENCHMARKS.md, "Build time (cold, issue
# 12)"); a target not listed runs AIOT_FUZZ_RUNS_DEFAULT.
set(AIOT_FUZZ_RUNS_DEFAULT 20000)
# Calibrated 2026-12-02 on the fuzz preset (clang 14, ASan + UBSan + coverage over the whole tree):
# executions per CPU second over the first 10 s of a -seed=1 run, times 8 s.
set(AIOT_FUZZ_RUNS_base_config_fuzz 11000)
set(AIOT_FUZZ_RUNS_datastore_telemetry_fuzz 480000)
set(AIOT_FUZZ_RUNS_kafka_segment_fuzz 980000)
set(AIOT_FUZZ_RUNS_ml_csv_fuzz 140000)
set(AIOT_FUZZ_RUNS_ml_tflite_fuzz 76000)
set(AIOT_FUZZ_RUNS_mqtt_auth_fuzz 160000)
set(AIOT_FUZZ_RUNS_mqtt_bridge_record_fuzz 1500000)
set(AIOT_FUZZ_RUNS_mqtt_codec_fuzz 200000)
# 2026-12-03: about 2300 executions per second over the first 10 s.
set(AIOT_FUZZ_RUNS_mqtt_persist_log_fuzz 18000)
set(AIOT_FUZZ_RUNS_net_http_request_fuzz 71000)
set(AIOT_FUZZ_RUNS_ota_record_fuzz 43000)
set(AIOT_FUZZ_RUNS_pipeline_cron_fuzz 300000)
set(AIOT_FUZZ_RUNS_registry_payload_fuzz 250000)
set(AIOT_FUZZ_RUNS_services_telemetry_fuzz 96000)
set(AIOT_FUZZ_RUNS_sim_control_fuzz 41000)
set(AIOT_FUZZ_RUNS_store_ingest_fuzz 200000)
set(AIOT_FUZZ_RUNS_telemetry_message_fuzz 300000)
