using System.CommandLine;
using System.Globalization;
using GpuViT.Kernels.Cuda;
using GpuViT.Kernels.Runtime;

namespace GpuViT.Host;

/// <summary>`gpuvit devices [--probe]`: every device with its memory, units and peak figures.</summary>
public static class DevicesCommand
{
    public static Command Create(TextWriter output, TextWriter error, CancellationToken interrupt)
    {
        var probe = new Option<bool>("--probe")
        {
            Description = "Measure each device's FP32 GFLOP/s and memory GB/s with short probes (seconds) instead of taking them from its attributes",
        };
        var command = new Command("devices", "List every device: kind, name, memory, compute units and peak FP32 GFLOP/s and memory GB/s");
        command.Options.Add(probe);
        command.SetAction(parsed =>
        {
            string? selector = DeviceOption.Selector(parsed);
            List(output, error, selector, parsed.GetValue(probe), interrupt);
            return 0;
        });
        return command;
    }

    private static void List(TextWriter output, TextWriter error, string? selector, bool probe, CancellationToken interrupt)
    {
        var rows = new List<string[]>();
        var missing = new List<string>();
        if (selector is not null)
        {
            // One device, opened as any command would open it.
            using Device device = DeviceOption.Open(selector, error);
            rows.Add(Row(device.Info, probe ? Measure(device, interrupt) : device.Info.Peaks, probe));
        }
        else
        {
            foreach ((DeviceKind backend, DeviceDiscovery found) in Devices.Discover())
            {
                if (found.Devices.Count == 0)
                {
                    missing.Add($"  {backend.ToString().ToLowerInvariant()}: {found.Problem}");
                }

                foreach (DeviceInfo info in found.Devices)
                {
                    DevicePeaks peaks = info.Peaks;
                    if (probe && info.Kind != DeviceKind.Emulator)
                    {
                        using Device device = Devices.Open(info);
                        peaks = Measure(device, interrupt);
                    }

                    rows.Add(Row(info, peaks, probe));
                }
            }
        }

        string[] header = probe
            ? ["id", "kind", "name", "memory", "units", "FP32 GFLOP/s", "GB/s", "copy kernel GB/s", "driver copy GB/s", "tensor cores", "peaks from"]
            : ["id", "kind", "name", "memory", "units", "FP32 GFLOP/s", "GB/s", "tensor cores", "peaks from"];
        Table(output, header, rows);
        if (missing.Count > 0)
        {
            output.WriteLine();
            output.WriteLine("Not found:");
            missing.ForEach(output.WriteLine);
        }

        output.WriteLine();
        output.WriteLine(Nvrtc.Description);
        output.WriteLine();
        output.WriteLine(probe
            ? "GB/s counts bytes read plus bytes written: the faster of the copy kernel (Probes.ProbeCopy) and the driver's "
              + "device-to-device copy (cuMemcpyDtoD, clEnqueueCopyBuffer), the memory roof compare and bench use. "
              + "Each figure is the best of several short runs."
            : "Peaks are from device attributes where they give them; 'gpuvit devices --probe' measures them.");
    }

    /// <summary>A device's probes (about a second): a signal is honoured before and after them, as the probes themselves cannot stop part-way.</summary>
    private static DevicePeaks Measure(Device device, CancellationToken interrupt)
    {
        interrupt.ThrowIfCancellationRequested();
        DevicePeaks peaks = DeviceProbe.Measure(device);
        interrupt.ThrowIfCancellationRequested();
        return peaks;
    }

    private static string[] Row(DeviceInfo info, DevicePeaks peaks, bool probed)
    {
        bool emulator = info.Kind == DeviceKind.Emulator;
        string source = emulator ? "not a performance device" : peaks.Source switch
        {
            PeakSource.Probe => "probe (measured)",
            PeakSource.Attributes => "attributes (theoretical)",
            _ => probed ? "probe failed" : "unknown without --probe",
        };
        return
        [
            info.Id,
            info.Kind.ToString().ToLowerInvariant(),
            info.Name,
            DeviceOutOfMemoryException.Bytes(info.MemoryBytes),
            info.ComputeUnits.ToString(CultureInfo.InvariantCulture),
            Number(peaks.Fp32Gflops),
            Number(peaks.MemoryGbps),
            .. probed ? new[] { Number(peaks.CopyKernelGbps), Number(peaks.DriverCopyGbps) } : [],
            info.Capabilities.TensorCoreSummary,
            source,
        ];
    }

    private static string Number(double? value) => value is { } v ? v.ToString(v >= 100 ? "F0" : "F1", CultureInfo.InvariantCulture) : "-";

    private static void Table(TextWriter output, string[] header, List<string[]> rows)
    {
        int[] widths = header.Select((h, i) => rows.Select(r => r[i].Length).Append(h.Length).Max()).ToArray();
        string Line(string[] cells) => "  " + string.Join("  ", cells.Select((c, i) => i == cells.Length - 1 ? c : c.PadRight(widths[i]))).TrimEnd();
        output.WriteLine(Line(header));
        rows.ForEach(r => output.WriteLine(Line(r)));
    }
}
