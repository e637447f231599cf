// SPDX-License-Identifier: BSL-1.0
// bench/go/worker_pool.go — the worker-pool scenario of bench/worker_pool_bench.cpp, with goroutines.
//
// 1000 goroutines (-workers) park on a channel, then each recurses 10,000 frames (-depth) of 88 bytes
// (a [40]byte local + the spill area for three register arguments + frame pointer + return address;
// the program measures and prints the real figure), returns and parks again on a channel. Then it
// forces runtime.GC() 10 times (-gcs): Go shrinks goroutine stacks only while the collector scans
// them, halving each one that uses less than a quarter of its size. It prints the time of each GC,
// RSS (VmRSS) and the runtime's stack memory after each, then RSS while it waits (-wait, 2 s by
// default; freed stack spans go back to Go's heap, and only the background scavenger returns them to
// the OS), and RSS after debug.FreeOSMemory().
//
// Only the standard library: build it with GO111MODULE=off (bench/run.sh does, with GOCACHE and
// GOPATH under the build directory). The output is one record per line, "key value ...", read by
// ebb_worker_pool_bench, which prints it beside ebb's shrink passes.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
	"unsafe"
)

// statusKiB returns a "Key:   N kB" field of /proc/self/status, in KiB (-1 if missing).
func statusKiB(key string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := s.Text()
		if strings.HasPrefix(line, key+":") {
			fields := strings.Fields(line[len(key)+1:])
			if len(fields) > 0 {
				v, err := strconv.ParseInt(fields[0], 10, 64)
				if err == nil {
					return v
				}
			}
		}
	}
	return -1
}

// One frame of a recursive-descent parser: 88 bytes on amd64 with Go 1.19 (checked at run time:
// the bottom frame records the distance to its parent's local).
//
//go:noinline
func recurse(depth int, parent *byte, frameBytes *uintptr) int {
	var token [40]byte
	token[depth%len(token)] = byte(depth)
	if depth <= 1 {
		*frameBytes = uintptr(unsafe.Pointer(parent)) - uintptr(unsafe.Pointer(&token[0]))
		return int(token[1])
	}
	return recurse(depth-1, &token[0], frameBytes) + int(token[depth%len(token)])
}

func stackInuseKiB() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.StackInuse / 1024
}

func main() {
	workers := flag.Int("workers", 1000, "goroutines")
	depth := flag.Int("depth", 10000, "frames each goroutine recurses")
	gcs := flag.Int("gcs", 10, "runtime.GC() calls after the recursion")
	wait := flag.Duration("wait", 2*time.Second, "how long to wait for the scavenger after the GCs")
	flag.Parse()

	fmt.Printf("go_version %s GOMAXPROCS=%d\n", runtime.Version(), runtime.GOMAXPROCS(0))
	start := make(chan struct{})
	park := make(chan struct{})
	done := make(chan uintptr, *workers)
	for i := 0; i < *workers; i++ {
		go func() {
			<-start // parked before the burst
			var top byte
			var frame uintptr
			sink := recurse(*depth, &top, &frame)
			if sink == -1 {
				fmt.Println("unreachable")
			}
			done <- frame
			<-park // parked after it, with a deep stack left behind
		}()
	}
	for runtime.NumGoroutine() < *workers+1 {
		runtime.Gosched()
	}
	time.Sleep(50 * time.Millisecond) // let every goroutine reach its first park
	fmt.Printf("parked rss_kib %d stack_inuse_kib %d\n", statusKiB("VmRSS"), stackInuseKiB())

	t0 := time.Now()
	close(start)
	frame := uintptr(0)
	for i := 0; i < *workers; i++ {
		frame = <-done
	}
	recursion := time.Since(t0)
	time.Sleep(20 * time.Millisecond) // every goroutine back at its park
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	fmt.Printf("frame_bytes %d workers %d depth %d\n", frame, *workers, *depth)
	fmt.Printf("deep rss_kib %d stack_inuse_kib %d recursion_ms %.3f gcs_so_far %d\n", statusKiB("VmRSS"),
		m.StackInuse/1024, float64(recursion.Nanoseconds())/1e6, m.NumGC)

	for i := 1; i <= *gcs; i++ {
		t := time.Now()
		runtime.GC()
		d := time.Since(t)
		fmt.Printf("gc %d ms %.3f rss_kib %d stack_inuse_kib %d\n", i, float64(d.Nanoseconds())/1e6,
			statusKiB("VmRSS"), stackInuseKiB())
	}

	waited := time.Duration(0)
	step := 500 * time.Millisecond
	for waited < *wait {
		s := step
		if *wait-waited < s {
			s = *wait - waited
		}
		time.Sleep(s)
		waited += s
		fmt.Printf("wait s %.2f rss_kib %d\n", waited.Seconds(), statusKiB("VmRSS"))
	}

	t := time.Now()
	debug.FreeOSMemory()
	d := time.Since(t)
	fmt.Printf("free_os_memory ms %.3f rss_kib %d stack_inuse_kib %d\n", float64(d.Nanoseconds())/1e6,
		statusKiB("VmRSS"), stackInuseKiB())
	close(park)
}
