package bench

import (
	"context"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// The drivers of Idle, Echo and Fanout on the TLS client path: the gnet
// drivers' phases, samples and report fields, step for step, over a
// tlsRun. Idle, echo and Fanout call them for wss:// targets after
// checking the config.

// idleTLS is Idle on the TLS client path; cfg has its defaults and is
// valid, and target is its URL's.
func idleTLS(ctx context.Context, cfg IdleConfig, target clientTarget) (*IdleReport, error) {
	rep := newIdleReport(cfg)
	rep.Loops = 0 // no event loop runs
	run, err := newTLSRun(ctx, clientSpec{
		target: target, sessions: cfg.Sessions, rate: cfg.Rate, loops: cfg.Loops,
		size: clientMinSize, handTO: cfg.HandshakeTimeout, live: cfg.Live,
	}, cfg.TLS)
	if err != nil {
		return nil, err
	}
	self0, _ := ReadProc(0)
	probe := idleProbe{pids: cfg.PIDs, local: target.local()}
	probe.sampleBefore()

	t0 := time.Now()
	rep.Attempted = run.connect(ctx, clientDialers(cfg.Sources, cfg.ConnectTimeout))
	rep.ConnectSeconds = time.Since(t0).Seconds()
	rep.Connected = int(run.cr.opened.Load())
	if rep.ConnectSeconds > 0 {
		rep.ConnectRate = float64(rep.Connected) / rep.ConnectSeconds
	}
	cfg.awaitReady(ctx)
	if len(cfg.PIDs) > 0 {
		sleepClient(ctx, cfg.Settle)
	}
	probe.sampleConnected()

	t1 := time.Now()
	sleepClient(ctx, cfg.Hold)
	rep.HeldSeconds = time.Since(t1).Seconds()
	probe.sampleEnd()

	if ctx.Err() == nil && rep.Connected > 0 {
		run.cr.setPhase(clientPhaseVerify)
		cd := run.arm(&run.cr.verify, clientVerifyFlag)
		waitClient(ctx, cd.zero, cfg.VerifyTimeout)
		rep.Alive = int(run.cr.alive.Load())
	}
	rep.Interrupted = ctx.Err() != nil
	run.closeAll()
	self1, _ := ReadProc(0)
	rep.ClientCPUSeconds = self1.CPUSeconds - self0.CPUSeconds
	rep.ClientCPUBound = cpuBound(rep.ClientCPUSeconds, rep.ConnectSeconds)
	rep.Mismatches = run.mismatches()
	rep.Failed = run.cr.failures()
	probe.fill(rep)
	return rep, noneOpened(rep.Connected > 0, rep.Interrupted)
}

// echoTLS is echo on the TLS client path; cfg has its defaults and is
// valid, and target is its URL's.
func echoTLS(ctx context.Context, cfg EchoConfig, target clientTarget) (*EchoReport, *hdrhistogram.Histogram, error) {
	rep := newEchoReport(cfg)
	rep.Loops = 0 // no event loop runs
	run, err := newTLSRun(ctx, clientSpec{
		target: target, sessions: cfg.Sessions, rate: cfg.Rate, loops: cfg.Loops,
		size: cfg.Size, window: cfg.Window, hist: true,
		handTO: cfg.HandshakeTimeout, live: cfg.Live,
	}, cfg.TLS)
	if err != nil {
		return nil, nil, err
	}
	run.connect(ctx, clientDialers(cfg.Sources, cfg.ConnectTimeout))
	rep.Connected = int(run.cr.opened.Load())
	cfg.awaitReady(ctx)

	var m clientMeasure
	if ctx.Err() == nil && rep.Connected > 0 {
		run.cr.setPhase(clientPhaseWarmup)
		run.wakeOpen()
		sleepClient(ctx, cfg.Warmup)
		m.begin(cfg.PIDs)
		run.cr.setPhase(clientPhaseMeasure)
		sleepClient(ctx, cfg.Duration)
		run.cr.setPhase(clientPhaseDrain)
		m.end(cfg.PIDs)
		cd := run.arm(&run.cr.drain, clientDrainFlag)
		waitClient(context.Background(), cd.zero, cfg.DrainTimeout)
	}
	out := run.finish(ctx)
	rep.Interrupted, rep.Failed = out.interrupted, out.failed
	rep.Messages, rep.Sent, rep.Received, rep.Errors = out.msgs, out.sent, out.received, out.mismatches
	rep.Latency = latencyOrZero(out.hist)
	rep.Seconds, rep.ClientCPUSeconds = m.seconds(), m.clientCPU()
	rep.ClientCPUBound = cpuBound(rep.ClientCPUSeconds, rep.Seconds)
	rep.MsgsPerSec = perSecond(rep.Messages, rep.Seconds)
	rep.BytesPerSec = rep.MsgsPerSec * float64(cfg.Size)
	rep.Targets = echoTargets(m.targets(cfg.PIDs, rep.Messages))
	return rep, out.hist, noneOpened(rep.Connected > 0, rep.Interrupted)
}

// fanoutTLS is Fanout on the TLS client path; cfg has its defaults and is
// valid, and target is its URL's. The publisher's goroutine wakes itself
// at the tick fan.drive keeps on the gnet path.
func fanoutTLS(ctx context.Context, cfg FanoutConfig, target clientTarget) (*FanoutReport, error) {
	rep := &FanoutReport{
		Mode: "fanout", URL: cfg.URL, ClientPath: ClientPathTLS, Subscribers: cfg.Sessions, MsgRate: cfg.MsgRate,
		Size: cfg.Size, Duration: cfg.Duration.String(), Warmup: cfg.Warmup.String(),
		Sources: addrStrings(cfg.Sources), Machine: ReadMachine(), // Loops 0: no event loop runs
	}
	fan := &clientFanout{rate: cfg.MsgRate}
	run, err := newTLSRun(ctx, clientSpec{
		target: target, sessions: cfg.Sessions + 1, rate: cfg.Rate, loops: cfg.Loops,
		size: cfg.Size, hist: true, handTO: cfg.HandshakeTimeout, fan: fan, live: cfg.Live,
	}, cfg.TLS)
	if err != nil {
		return nil, err
	}
	run.connect(ctx, clientDialers(cfg.Sources, cfg.ConnectTimeout))
	opened := int(run.cr.opened.Load())
	rep.Connected = max(opened-1, 0)

	var m clientMeasure
	pub := run.openSession()
	if ctx.Err() == nil && opened >= 2 && pub != nil {
		first := fanoutCount(cfg.Warmup, cfg.MsgRate)
		total := fanoutCount(cfg.Warmup+cfg.Duration, cfg.MsgRate)
		rep.Published = total - first
		start := run.cr.nanos()
		fan.first.Store(first)
		fan.total.Store(total)
		fan.start.Store(start)
		fan.pub.Store(pub.cs)
		run.cr.setPhase(clientPhaseWarmup)
		pub.wake()

		origin := run.cr.start.Add(time.Duration(start))
		sleepClient(ctx, time.Until(origin.Add(fan.due(first))))
		m.begin(cfg.PIDs)
		run.cr.setPhase(clientPhaseMeasure)
		sleepClient(ctx, time.Until(origin.Add(fan.due(total))))
		m.end(cfg.PIDs)
		run.cr.setPhase(clientPhaseDrain)
		cd := run.arm(&run.cr.drain, clientDrainFlag)
		waitClient(ctx, cd.zero, cfg.DrainTimeout)
		rep.Seconds = float64(rep.Published) / cfg.MsgRate
	}
	out := run.finish(ctx)
	rep.Interrupted, rep.Failed = out.interrupted, out.failed
	rep.Delivered, rep.Sent, rep.Received, rep.Errors = out.msgs, out.sent, out.received, out.mismatches
	rep.Latency = latencyOrZero(out.hist)
	rep.ClientCPUSeconds = m.clientCPU()
	rep.ClientCPUBound = cpuBound(rep.ClientCPUSeconds, m.seconds())
	rep.Expected = rep.Published * uint64(rep.Connected)
	if rep.Expected > 0 {
		rep.DeliveredRatio = float64(rep.Delivered) / float64(rep.Expected)
	}
	rep.MsgsPerSec = perSecond(rep.Delivered, rep.Seconds)
	rep.BytesPerSec = rep.MsgsPerSec * float64(cfg.Size)
	rep.Targets = echoTargets(m.targets(cfg.PIDs, rep.Delivered))
	switch {
	case rep.Interrupted:
	case opened == 0:
		return rep, ErrNoneOpened
	case opened < 2:
		return rep, ErrNoSubscribers
	}
	return rep, nil
}
