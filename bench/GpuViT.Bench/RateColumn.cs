using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace GpuViT.Bench;

/// <summary>
/// A quantity per run (FLOPs, bytes) over the benchmark's mean time, in billions per second:
/// the GFLOP/s and GB/s columns of every benchmark here.
/// </summary>
public sealed class RateColumn(string name, string legend, Func<BenchmarkCase, double?> perRun) : IColumn
{
    /// <summary>A GFLOP/s column.</summary>
    public static RateColumn Gflops(Func<BenchmarkCase, double> flopsPerRun, string legend) => new("GFLOP/s", legend, c => flopsPerRun(c));

    public string Id => name;
    public string ColumnName => name;
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => 0;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;
    public string Legend => legend;

    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

    public bool IsAvailable(Summary summary) => true;

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        double? nanoseconds = summary[benchmarkCase]?.ResultStatistics?.Mean;
        return nanoseconds is > 0 && perRun(benchmarkCase) is { } amount ? (amount / nanoseconds.Value).ToString("F2") : "-";
    }
}
