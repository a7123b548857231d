namespace GpuViT.Tests.Runtime;

/// <summary>
/// Tests that run alone, after the parallel ones: those that measure the whole process's memory
/// (native memory other tests hold at the same time would count), those that time probes (other
/// tests' load would move the figures they compare), and those that build the probe kernels from
/// source on PoCL (PoCL 3.1 here crashed, strlen of null inside libpocl, when one test opened a
/// PoCL device while another built these kernels from source).
/// </summary>
[CollectionDefinition(nameof(RunsAlone), DisableParallelization = true)]
public sealed class RunsAlone;
