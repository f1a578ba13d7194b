package schema

// The vocabulary of a run, defined once here and re-exported by package typhon,
// the engine, detect and the test bed. Each type is a string in JSON.

// Mode names a benchmark plan (Result.Mode, a job's mode).
type Mode string

// Modes of a plan.
const (
	ModeQuick Mode = "quick"
	ModeFull  Mode = "full"
	// ModeZeus is the long-context torture test (engine.ZeusPlan).
	ModeZeus Mode = "zeus"
	// ModeLoad is one load sweep instead of a plan (engine.LoadPlan).
	ModeLoad Mode = "load"
)

// Kind names a kind of LLM server (ServerInfo.Kind).
type Kind string

// Kinds of server.
const (
	KindLlamaCpp  Kind = "llama.cpp"
	KindOllama    Kind = "ollama"
	KindLMStudio  Kind = "lmstudio"
	KindVLLM      Kind = "vllm"
	KindTGWUI     Kind = "text-generation-webui"
	KindJan       Kind = "jan"
	KindSGLang    Kind = "sglang"
	KindTGI       Kind = "tgi"
	KindKoboldCpp Kind = "koboldcpp"
	KindLlamafile Kind = "llamafile"
	KindLocalAI   Kind = "localai"
	// KindOpenAI is a server with an OpenAI-compatible /v1/models that matches
	// no known kind.
	KindOpenAI Kind = "openai-compatible"
)

// Status is the state of a record (Result.Status).
type Status string

// Record status values.
const (
	StatusRunning     Status = "running"     // the run is in progress (on disk: the process may still be alive)
	StatusComplete    Status = "complete"    // every planned test ran (some may have failed or been skipped)
	StatusFailed      Status = "failed"      // the run ended in error; Error says why
	StatusCancelled   Status = "cancelled"   // the run was cancelled; finished tests are kept
	StatusInterrupted Status = "interrupted" // the process died mid-run; found on disk at start-up
)

// JobStatus is the state of a job of spec/jobs.md: pending -> running -> done,
// or error. There are no others: a cancelled job is JobError.
type JobStatus string

// Job states.
const (
	JobPending JobStatus = "pending"
	JobRunning JobStatus = "running"
	JobDone    JobStatus = "done"
	JobError   JobStatus = "error"
)
