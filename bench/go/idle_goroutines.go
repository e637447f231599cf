// bench/go/idle_goroutines.go — what an idle goroutine costs in memory, as the kernel counts it: the
// Go side of the compact-fiber rows of bench/idle_memory_bench.cpp.
//
// N goroutines (-n, default 100000) are started; each signals that it runs and parks on a channel
// receive (`<-park`), the usual way a goroutine waits for work. Measured: the growth of VmRSS
// (resident memory) and of VmPTE (page tables) from before the first goroutine to after the last has
// parked, divided by N. It includes everything the runtime needs for a parked goroutine: its g, its
// initial stack (2 KiB in Go 1.19), the sudog of its channel wait, the closure, and the runtime's list
// of all goroutines. runtime.GC() runs before the baseline is read and before the final reading, so
// the baseline carries no garbage and the final reading no more than the live heap's pages.
//
// Only the standard library: build it with GO111MODULE=off (bench/run.sh does, with GOCACHE and
// GOPATH under the build directory). The output is one record per line, "key value ...", read by
// ebb_idle_memory_bench.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
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

func stackInuseKiB() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.StackInuse / 1024
}

func main() {
	n := flag.Int("n", 100000, "goroutines")
	flag.Parse()

	fmt.Printf("go_version %s GOMAXPROCS=%d\n", runtime.Version(), runtime.GOMAXPROCS(0))
	runtime.GC()
	rss0, pte0, stack0 := statusKiB("VmRSS"), statusKiB("VmPTE"), stackInuseKiB()

	park := make(chan struct{})
	var started sync.WaitGroup
	started.Add(*n)
	for i := 0; i < *n; i++ {
		go func() {
			started.Done()
			<-park
		}()
	}
	started.Wait()
	time.Sleep(50 * time.Millisecond) // every goroutine has run: let the last ones reach their receive
	runtime.GC()
	rss1, pte1, stack1 := statusKiB("VmRSS"), statusKiB("VmPTE"), stackInuseKiB()

	fmt.Printf("idle n %d rss_kib %d %d pte_kib %d %d stack_inuse_kib %d %d\n", *n, rss0, rss1, pte0, pte1,
		stack0, stack1)
	fmt.Printf("per_goroutine rss_bytes %.1f pte_bytes %.1f stack_bytes %.1f\n",
		float64(rss1-rss0)*1024/float64(*n), float64(pte1-pte0)*1024/float64(*n),
		float64(stack1-stack0)*1024/float64(*n))
	close(park)
}
