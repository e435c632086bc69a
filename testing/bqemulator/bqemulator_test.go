package bqemulator_test

import (
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/marketplace/settle/testing/bqemulator"
)

func TestStartServesUntilCleanup(t *testing.T) {
	t.Setenv(bqemulator.EnvHost, "")
	var host string
	t.Run("started", func(t *testing.T) {
		em := bqemulator.StartEmulator(t)
		host = em.Host
		resp, err := http.Get("http://" + em.Host + "/readyz")
		if err != nil {
			t.Fatalf("GET /readyz: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET /readyz = %d, want 200", resp.StatusCode)
		}
		if em.GCSRoot == "" {
			t.Errorf("GCSRoot is empty, want the directory gs:// URIs resolve under")
		}
	})
	if host == "" {
		t.Skip("emulator did not start")
	}
	conn, err := net.DialTimeout("tcp", host, time.Second)
	if err == nil {
		conn.Close()
		t.Errorf("emulator at %s still accepts connections after its test ended", host)
	}
}

func TestStartHonoursRunningEmulator(t *testing.T) {
	t.Setenv(bqemulator.EnvHost, "127.0.0.1:9")
	t.Setenv(bqemulator.EnvGCSRoot, "/somewhere")
	em := bqemulator.StartEmulator(t)
	if em.Host != "127.0.0.1:9" || em.Endpoint != "http://127.0.0.1:9/bigquery/v2/" || em.GCSRoot != "/somewhere" {
		t.Errorf("StartEmulator() = %+v, want the emulator named by the environment", em)
	}
	if got := bqemulator.Start(t); got != "127.0.0.1:9" {
		t.Errorf("Start() = %q, want 127.0.0.1:9", got)
	}
}
