using System.CommandLine;
using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using GpuViT.Kernels.Cuda;
using GpuViT.Kernels.Runtime;

namespace GpuViT.Host;

/// <summary>`gpuvit devices [--probe] [--json]`: every device with its memory, units and peak figures.</summary>
public static class DevicesCommand
{
    public static Command Create(TextWriter output, TextWriter error, CancellationToken interrupt)
    {
        var probe = new Option<bool>("--probe")
        {
            Description = "Measure each device's FP32 GFLOP/s and memory GB/s with short probes (seconds) instead of taking them from its attributes",
        };
        var json = new Option<bool>("--json") { Description = "One JSON object on stdout: the devices, the backends not found and why, and the NVRTC in use" };
        var command = new Command("devices", "List every device: kind, name, memory, compute units and peak FP32 GFLOP/s and memory GB/s");
        command.Options.Add(probe);
        command.Options.Add(json);
        command.SetAction(parsed =>
        {
            bool probed = parsed.GetValue(probe);
            (List<(DeviceInfo Info, DevicePeaks Peaks)> found, List<(string Backend, string Problem)> missing) =
                Find(error, DeviceOption.Selector(parsed), probed, interrupt);
            if (parsed.GetValue(json))
            {
                Json(output, found, missing, probed);
            }
            else
            {
                List(output, found, missing, probed);
            }

            return 0;
        });
        return command;
    }

    /// <summary>The devices (the one selected, or all found) with their peaks, probed when asked; and the backends that have none, with why.</summary>
    private static (List<(DeviceInfo Info, DevicePeaks Peaks)> Found, List<(string Backend, string Problem)> Missing) Find(
        TextWriter error, string? selector, bool probe, CancellationToken interrupt)
    {
        var found = new List<(DeviceInfo, DevicePeaks)>();
        var missing = new List<(string, string)>();
        if (selector is not null)
        {
            // One device, opened as any command would open it.
            using Device device = DeviceOption.Open(selector, error);
            found.Add((device.Info, probe ? Measure(device, interrupt) : device.Info.Peaks));
            return (found, missing);
        }

        foreach ((DeviceKind backend, DeviceDiscovery discovery) in Devices.Discover())
        {
            if (discovery.Devices.Count == 0)
            {
                missing.Add((backend.ToString().ToLowerInvariant(), discovery.Problem ?? ""));
            }

            foreach (DeviceInfo info in discovery.Devices)
            {
                DevicePeaks peaks = info.Peaks;
                if (probe && info.Kind != DeviceKind.Emulator)
                {
                    using Device device = Devices.Open(info);
                    peaks = Measure(device, interrupt);
                }

                found.Add((info, peaks));
            }
        }

        return (found, missing);
    }

    private static void List(TextWriter output, List<(DeviceInfo Info, DevicePeaks Peaks)> found, List<(string Backend, string Problem)> missing, bool probe)
    {
        List<string[]> rows = [.. found.Select(d => Row(d.Info, d.Peaks, probe))];
        string[] header = probe
            ? ["id", "kind", "name", "memory", "units", "FP32 GFLOP/s", "GB/s", "copy kernel GB/s", "driver copy GB/s", "tensor cores", "peaks from"]
            : ["id", "kind", "name", "memory", "units", "FP32 GFLOP/s", "GB/s", "tensor cores", "peaks from"];
        Table(output, header, rows);
        if (missing.Count > 0)
        {
            output.WriteLine();
            output.WriteLine("Not found:");
            missing.ForEach(m => output.WriteLine($"  {m.Backend}: {m.Problem}"));
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

    /// <summary>
    /// The table's figures as one JSON object: {"devices": [...], "not_found": [{"backend", "problem"}], "nvrtc"}.
    /// Each device: id, kind, name, gpu, memory_bytes, max_allocation_bytes, compute_units,
    /// compute_capability (CUDA, else null), tensor_cores (the shapes' precisions), fp32_gflops and
    /// memory_gbps (null where unknown), with --probe copy_kernel_gbps and driver_copy_gbps, and
    /// peaks_from ("probe", "attributes", or null: unknown, a failed probe, the emulator).
    /// </summary>
    private static void Json(TextWriter output, List<(DeviceInfo Info, DevicePeaks Peaks)> found, List<(string Backend, string Problem)> missing, bool probe)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            json.WriteStartObject();
            json.WriteStartArray("devices");
            foreach ((DeviceInfo info, DevicePeaks peaks) in found)
            {
                json.WriteStartObject();
                json.WriteString("id", info.Id);
                json.WriteString("kind", info.Kind.ToString().ToLowerInvariant());
                json.WriteString("name", info.Name);
                json.WriteBoolean("gpu", info.IsGpu);
                json.WriteNumber("memory_bytes", info.MemoryBytes);
                json.WriteNumber("max_allocation_bytes", info.MaxAllocationBytes);
                json.WriteNumber("compute_units", info.ComputeUnits);
                Number(json, "compute_capability", info.Capabilities.ComputeCapability);
                json.WriteStartArray("tensor_cores");
                foreach (string precision in info.Capabilities.TensorCorePrecisions)
                {
                    json.WriteStringValue(precision);
                }

                json.WriteEndArray();
                Number(json, "fp32_gflops", peaks.Fp32Gflops);
                Number(json, "memory_gbps", peaks.MemoryGbps);
                if (probe)
                {
                    Number(json, "copy_kernel_gbps", peaks.CopyKernelGbps);
                    Number(json, "driver_copy_gbps", peaks.DriverCopyGbps);
                }

                bool measured = info.Kind != DeviceKind.Emulator && peaks.Source != PeakSource.Unknown;
                json.WriteString("peaks_from", measured ? peaks.Source.ToString().ToLowerInvariant() : null);
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteStartArray("not_found");
            foreach ((string backend, string problem) in missing)
            {
                json.WriteStartObject();
                json.WriteString("backend", backend);
                json.WriteString("problem", problem);
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteString("nvrtc", Nvrtc.Description);
            json.WriteEndObject();
        }

        output.WriteLine(System.Text.Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length));
    }

    private static void Number(Utf8JsonWriter json, string name, double? value)
    {
        if (value is { } v)
        {
            json.WriteNumber(name, v);
        }
        else
        {
            json.WriteNull(name);
        }
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
