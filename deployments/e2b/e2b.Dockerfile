# The `trading` sandbox template on E2B: what sandboxd's `trading` template holds
# (tradeswarm/sandbox/sandboxd/templates.py), so the agent runner starts the same way on both.
# Build from the repository root (the COPY sources are relative to it); see README.md.
FROM e2bdev/code-interpreter:latest

# The third-party packages the agent runner imports, pinned as constraints.txt pins them
# (tests/agents/test_e2b_template.py keeps this list and those versions in step).
RUN pip install --no-cache-dir \
    annotated-types==0.8.0 \
    cloudpickle==3.1.3 \
    numpy==2.4.6 \
    pandas==3.1.1 \
    pyarrow==26.0.1 \
    pydantic==2.14.4 \
    pydantic-settings==2.16.3 \
    pydantic_core==2.50.5 \
    python-dateutil==2.9.0.post0 \
    python-dotenv==1.2.4 \
    pytz==2026.6 \
    six==1.17.0 \
    typing-inspection==0.4.5 \
    typing_extensions==4.16.0

# The workspace is the sandbox user's home, where commands start and relative paths land:
# `bin/agent --config agents/<id>.json` (tradeswarm/agents/deploy.py; here it starts the runner
# cold: sandboxd's zygote has no counterpart on E2B yet, see README.md).
WORKDIR /home/user
COPY tradeswarm /home/user/lib/tradeswarm
COPY data /home/user/data
RUN mkdir -p bin agents \
    && ln -sf "$(command -v python)" bin/python \
    && printf '#!/bin/sh\nexec /home/user/bin/python -m tradeswarm.agents.runner "$@"\n' > bin/agent \
    && chmod 755 bin/agent \
    && python -m compileall -q lib \
    && chown -R user:user /home/user

# The environment sandboxd gives every command of the `trading` template (TEMPLATE_ENVS).
ENV PYTHONPATH=/home/user/lib \
    OPENBLAS_NUM_THREADS=1 \
    OMP_NUM_THREADS=1 \
    MKL_NUM_THREADS=1 \
    PYTHONUNBUFFERED=1
