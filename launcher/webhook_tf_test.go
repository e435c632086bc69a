package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/marketplace/settle/pipeline"
)

// TestChannelLaunchesMatchMetadata reads the parameters the Scheduler jobs
// settle-webhook and settle-sweep add to the scheduled run's (webhook.tf)
// and checks, for each channel, that metadata.json declares them and its
// regexes take their values (else Dataflow refuses the launch), that the
// launched job's name is the one the parameters give, and that the source
// each passes makes `settle launch` build that channel's job.
func TestChannelLaunchesMatchMetadata(t *testing.T) {
	m := loadMetadata(t)
	b, err := os.ReadFile("deploy/terraform/webhook.tf")
	if err != nil {
		t.Fatalf("reading webhook.tf: %v", err)
	}
	src := string(b)
	start := strings.Index(src, "parameters = merge(local.launch_parameters,")
	end := strings.Index(src[max(start, 0):], "environment = local.launch_environment")
	if start < 0 || end < 0 {
		t.Fatalf("webhook.tf: no channel parameters block before the launch environment")
	}
	block := src[start : start+end]
	regexes := map[string][]string{}
	for _, p := range m.Parameters {
		regexes[p.Name] = p.Regexes
	}
	for channel, want := range map[string]string{"webhook": pipeline.ChannelWebhook, "sweep": pipeline.ChannelSweep} {
		params := map[string]string{}
		// The sweep's own block applies to it only.
		b := block
		if channel != "sweep" {
			b = b[:strings.Index(b, `each.key == "sweep"`)]
		}
		for _, mm := range regexp.MustCompile(`"([a-z][a-z-]*)"\s*=\s*("[^"]*"|each\.key)`).FindAllStringSubmatch(b, -1) {
			v := strings.ReplaceAll(strings.Trim(mm[2], `"`), "${each.key}", channel)
			if mm[2] == "each.key" {
				v = channel
			}
			params[mm[1]] = v
		}
		if params["source"] != channel || params["job-name"] != "settle-"+channel {
			t.Errorf("%s launch parameters %v: want source %s and job-name settle-%s", channel, params, channel, channel)
		}
		for k, v := range params {
			res, ok := regexes[k]
			if !ok {
				t.Errorf("the %s launch passes %q, which metadata.json does not declare (Dataflow refuses the launch)", channel, k)
			}
			for _, re := range res {
				if !regexp.MustCompile(re).MatchString(v) {
					t.Errorf("the %s launch passes %s=%q, which metadata.json's %s refuses", channel, k, v, re)
				}
			}
		}
		if !strings.Contains(src, `jobName              = "settle-${each.key}"`) {
			t.Errorf("webhook.tf: the launch's jobName is not the job-name parameter settle-${each.key}")
		}
		cfg := pipeline.DefaultConfig(t.TempDir())
		cfg.Source = params["source"]
		if got := launchSpec(cfg, time.Now()).Channel; got != want {
			t.Errorf("the %s launch (source %q) builds the job of channel %q, want %q", channel, cfg.Source, got, want)
		}
	}
}
