package export_test

import (
	"bytes"
	"fmt"
	"time"

	"github.com/typhonbench/typhon/export"
	"github.com/typhonbench/typhon/schema"
)

func ExampleBuild() {
	res := &schema.Result{
		RunID: "20261201T101500Z-1a2b3c4d", RunAt: time.Date(2026, 12, 1, 10, 15, 0, 0, time.UTC),
		Status: schema.StatusComplete, Mode: "quick", Model: "/home/me/models/qwen3-8b-Q4_K_M.gguf",
		Server: schema.ServerInfo{Kind: "llama.cpp", Version: "b11669", APIBase: "http://10.0.0.5:8080", Port: 8080},
		ProfileSnapshot: &schema.Profile{
			GPUs: []schema.GPUInfo{{Name: "NVIDIA GeForce RTX 4090", UUID: "GPU-0a1b2c3d-0000-1111-2222-333344445555",
				MemoryTotalMB: 24564, DriverVersion: "580.65.06"}},
			CPU: schema.CPUInfo{Model: "AMD Ryzen 9 7950X 16-Core Processor", LogicalCores: 32},
			RAM: schema.RAMInfo{TotalMB: 63900},
			OS:  schema.OSInfo{Name: "linux", Kernel: "6.8.0-me"},
		},
		Benchmarks: []schema.Benchmark{{TestID: "baseline_short", Category: schema.CategoryBaseline, CtxSize: 2048,
			MaxTokens: 64, NRuns: 5, SuccessfulRuns: 5, AvgTPS: 142.7, AvgTTFTS: 0.021}},
	}
	// LoadSalt(dataDir) gives the installation's salt; a fixed one keeps the
	// example's output stable.
	f, err := export.Build([]*schema.Result{res}, []byte("an example salt, never exported"), time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC))
	if err != nil {
		panic(err)
	}
	r := f.Runs[0]
	fmt.Println(f.Format, f.FormatVersion, f.ExportedOn)
	fmt.Println(r.Date, r.Model.Name, r.Server.Kind, r.Server.Version)
	fmt.Println(r.Hardware.GPUs[0].Model, r.Hardware.GPUs[0].MemoryMB, r.Hardware.DriverMajor, r.Hardware.RAMGB, r.Hardware.OSFamily)
	fmt.Println(len(r.Machine), r.Benchmarks[0].TestID, r.Benchmarks[0].AvgTPS)
	var buf bytes.Buffer
	_ = export.Write(&buf, f)
	_, err = export.Check(&buf)
	fmt.Println("check:", err)
	// Output:
	// typhon-community 1 2026-12-02
	// 2026-12-01 qwen3-8b-Q4_K_M.gguf llama.cpp b11669
	// NVIDIA GeForce RTX 4090 24564 580 62 linux
	// 64 baseline_short 142.7
	// check: <nil>
}
