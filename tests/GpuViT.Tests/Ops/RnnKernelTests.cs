using GpuViT.Kernels.Ops;
using GpuViT.Models.Rnn;
using GpuViT.Tests.Host;
using GpuViT.Tests.Models;
using GpuViT.Tests.Runtime;
using Catalog = GpuViT.Kernels.Generated.KernelCatalog;
using Rnn = GpuViT.Kernels.Library.Rnn;

namespace GpuViT.Tests.Ops;

/// <summary>
/// The dense RNN's readout reductions and both step versions, on the backends that run generated
/// kernels, against plain loops (the readouts, with every slicing) and the dense-matrix reference
/// (whole models, at batches that take each pass of the streaming step).
/// </summary>
public sealed class RnnKernelTests(TestDevices devices) : IClassFixture<TestDevices>
{
    // positions, planes, slices: one slice; slices that do not divide the positions; more slices than a group's stride covers.
    [Theory]
    [KernelBackendData(37, 3, 1)]
    [KernelBackendData(1000, 5, 3)]
    [KernelBackendData(700, 2, 7)]
    public void Pooled_readout_matches_plain_loops(string backend, int positions, int planes, int slices)
    {
        const int Channels = 1;
        int batch = planes / Channels, classes = 11;
        float[] state = TestData.Random(planes * positions, seed: positions);
        float[] weights = TestData.Random(classes * Channels, seed: 2);
        float[] bias = TestData.Random(classes, seed: 3);
        float[] partial = Poisoned(planes * slices);
        float[] logits = Poisoned(batch * classes);

        devices.Launch(backend, Catalog.RnnPoolChannels, Int3.Size(slices, planes), Int3.Size(Rnn.ReduceGroupSize), state, partial, planes, positions, slices);
        devices.Launch(backend, Catalog.RnnReadoutPooled, Int3.Size(TestDevices.Groups(classes, 64), batch), Int3.Size(64, 1),
            partial, weights, bias, logits, batch, Channels, positions, classes, slices);

        var expected = new float[batch * classes];
        for (int image = 0; image < batch; image++)
        {
            for (int k = 0; k < classes; k++)
            {
                double sum = bias[k];
                for (int c = 0; c < Channels; c++)
                {
                    double mean = Enumerable.Range(0, positions).Sum(p => (double)state[(image * Channels + c) * positions + p]) / positions;
                    sum += weights[k * Channels + c] * mean;
                }

                expected[image * classes + k] = (float)sum;
            }
        }

        Close.Elementwise(expected, logits, relative: 1e-4f, absolute: 1e-5f, what: "logits");
    }

    // units, batch, slices: one image (three repeated lanes); four and one more; slices that do not divide the units.
    [Theory]
    [KernelBackendData(300, 1, 1)]
    [KernelBackendData(1031, 5, 3)]
    [KernelBackendData(257, 4, 2)]
    public void Per_unit_readout_matches_plain_loops(string backend, int units, int batch, int slices)
    {
        const int Classes = 7;
        float[] state = TestData.Random(batch * units, seed: units);
        float[] weights = TestData.Random(Classes * units, seed: 5);
        float[] bias = TestData.Random(Classes, seed: 6);
        float[] partial = Poisoned(batch * Classes * slices);
        float[] logits = Poisoned(batch * Classes);
        int imageGroups = TestDevices.Groups(batch, Rnn.ImagesPerThread);

        devices.Launch(backend, Catalog.RnnReadoutUnits, Int3.Size(slices, Classes, imageGroups), Int3.Size(Rnn.ReduceGroupSize), state, weights, partial, batch, units, Classes, slices);
        devices.Launch(backend, Catalog.RnnReadoutFinish, Int3.Size(1, batch), Int3.Size(64, 1), partial, bias, logits, batch, Classes, slices);

        var expected = new float[batch * Classes];
        for (int image = 0; image < batch; image++)
        {
            for (int k = 0; k < Classes; k++)
            {
                double sum = bias[k];
                for (int u = 0; u < units; u++)
                {
                    sum += (double)weights[k * units + u] * state[image * units + u];
                }

                expected[image * Classes + k] = (float)sum;
            }
        }

        Close.Elementwise(expected, logits, relative: 1e-4f, absolute: 1e-5f, what: "logits");
    }

    public static TheoryData<string, RnnKernelVersion, int, int, RnnReadout> ModelCases()
    {
        var data = new TheoryData<string, RnnKernelVersion, int, int, RnnReadout>();
        foreach (string backend in TestDevices.KernelBackends)
        {
            foreach (RnnKernelVersion version in Enum.GetValues<RnnKernelVersion>())
            {
                // Batch 1: the lone-image pass; 2 and 3: a four-image pass with repeated lanes; 6: four and two; 9: four, four and one.
                // Width 8: weight blocks of eight units; 7: of one. k = 5 wider than half of the 7×7 image.
                data.Add(backend, version, 1, 8, RnnReadout.Pooled);
                data.Add(backend, version, 3, 7, RnnReadout.PerUnit);
                data.Add(backend, version, 9, 8, RnnReadout.PerUnit);
                if (backend != TestBackends.Emulator)
                {
                    data.Add(backend, version, 2, 8, RnnReadout.Pooled);
                    data.Add(backend, version, 6, 7, RnnReadout.Pooled);
                }
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(ModelCases))]
    public void Both_kernel_versions_match_the_dense_reference(string backend, RnnKernelVersion version, int batch, int imageSize, RnnReadout readout)
    {
        int kernel = imageSize == 7 ? 5 : 3;
        var config = new DenseRnnConfig(imageSize, Channels: 5, Kernel: kernel, Steps: 2, Classes: 6, Readout: readout);
        DenseRnnWeights weights = DenseRnnWeights.RandomInit(config, seed: batch);
        float[] images = TestData.Random(batch * DenseRnnConfig.InputChannels * config.Positions, seed: 10 + batch);

        using Device device = TestBackends.Open(backend);
        using DenseRnnModel model = DenseRnnModel.Load(device, config, weights, batch, version);
        float[] actual = model.Forward(images, batch);

        Close.Elementwise(DenseRnnReference.Forward(config, weights, images, batch), actual, relative: 1e-4f, absolute: 1e-4f, what: "logits");
        Assert.Equal(version, ((KernelRnnOps)model.Ops).Version);
    }

    [Theory]
    [InlineData(RnnKernelVersion.Streaming, 1, true)]
    [InlineData(RnnKernelVersion.Streaming, 5, false)]
    [InlineData(RnnKernelVersion.PerThread, 5, false)]
    public void Every_launch_goes_on_the_stream_it_was_given(RnnKernelVersion version, int batch, bool pooled)
    {
        // A device with no default stream whose streams run asynchronously: a launch that drops the
        // stream fails, and one queued on another stream would race with the rest.
        const int Channels = 5, Size = 8, Classes = 7;
        var shape = new RnnStepShape(batch, Channels, Size, Size, 3, Shared: false, Relu: false);
        int positions = Size * Size, units = Channels * positions;
        float[][] values =
        [
            TestData.Random(batch * 3 * positions, seed: 1), TestData.Random(batch * units, seed: 2), TestData.Random((int)shape.InputWeightElements, seed: 3),
            TestData.Random((int)shape.RecurrentWeightElements, seed: 4), TestData.Random(units, seed: 5),
            TestData.Random(Classes * (pooled ? Channels : units), seed: 6), TestData.Random(Classes, seed: 7),
        ];

        float[] Run(Device device, DeviceStream? stream)
        {
            DeviceBuffer<float>[] b = [.. values.Select(v => device.Allocate<float>(v.Length))];
            using DeviceBuffer<float> next = device.Allocate<float>(batch * units), logits = device.Allocate<float>(batch * Classes);
            try
            {
                for (int i = 0; i < values.Length; i++)
                {
                    values[i].CopyTo(HostSpan(b[i]));
                }

                using var ops = new KernelRnnOps(device, version);
                ops.Step(shape, b[0], b[1], b[2], b[3], b[4], next, stream);
                ops.Readout(next, b[5], b[6], logits, batch, Channels, positions, Classes, pooled, stream);
                (stream ?? device.DefaultStream).Synchronize();
                return HostSpan(logits).ToArray();
            }
            finally
            {
                Array.ForEach(b, buffer => buffer.Dispose());
            }
        }

        using Device emulator = Devices.Open("emulator").Device;
        float[] expected = Run(emulator, null);
        using var slow = new SlowAsyncDevice();
        using DeviceStream own = slow.CreateStream();
        Close.Elementwise(expected, Run(slow, own), relative: 1e-5f, absolute: 1e-6f, what: "logits");
    }

    private static unsafe Span<float> HostSpan(DeviceBuffer<float> buffer) =>
        new(((IHostMemory)buffer.Memory).Pointer, checked((int)buffer.Length));

    [Theory]
    [InlineData(true, 37, 3, 5, 1)]        // classes in the vectors' tail only; serial means
    [InlineData(true, 4096, 8, 19, 9)]     // two vectors of classes and a tail; 295K state values: parallel means
    [InlineData(false, 1031, 3, 19, 5)]    // per unit: four images and one more, length not a multiple of the vector
    public void Cpu_readouts_match_plain_loops(bool pooled, int positions, int channels, int classes, int batch)
    {
        int units = positions * channels;
        float[] state = TestData.Random(batch * units, seed: 1);
        float[] weights = TestData.Random(classes * (pooled ? channels : units), seed: 2);
        float[] bias = TestData.Random(classes, seed: 3);
        using Device cpu = Devices.Open("cpu").Device;
        using DeviceBuffer<float> stateBuffer = cpu.Upload<float>(state), weightBuffer = cpu.Upload<float>(weights), biasBuffer = cpu.Upload<float>(bias);
        using DeviceBuffer<float> logits = cpu.Upload<float>(Poisoned(batch * classes));
        using RnnOps ops = RnnOps.For(cpu);

        ops.Readout(stateBuffer, weightBuffer, biasBuffer, logits, batch, channels, positions, classes, pooled);

        var expected = new float[batch * classes];
        for (int image = 0; image < batch; image++)
        {
            for (int k = 0; k < classes; k++)
            {
                double sum = bias[k];
                for (int c = 0; c < channels; c++)
                {
                    if (pooled)
                    {
                        double mean = Enumerable.Range(0, positions).Sum(p => (double)state[image * units + c * positions + p]) / positions;
                        sum += weights[k * channels + c] * mean;
                    }
                    else
                    {
                        sum += Enumerable.Range(0, positions).Sum(p => (double)weights[k * units + c * positions + p] * state[image * units + c * positions + p]);
                    }
                }

                expected[image * classes + k] = (float)sum;
            }
        }

        Close.Elementwise(expected, logits.ToArray(), relative: 1e-4f, absolute: 1e-5f, what: "logits");
    }

    [Theory]
    [InlineData(50176, 8, 132, 24)]    // 224×224, one image of 8 channels on an H200: slices of 2,048 floats (66 wanted)
    [InlineData(50176, 256, 132, 3)]   // batch 32: fewer slices are enough
    [InlineData(1024, 8, 132, 1)]      // 32×32: a slice under 2,048 floats is not worth a group
    [InlineData(401408, 1000, 132, 1)] // per unit, 1000 classes: already 1000 groups
    [InlineData(10_000_000, 1, 4, 16)] // capped by the groups wanted, not the length
    [InlineData(10_000_000, 1, 1000, 64)] // and never more than 64
    public void Slices_fill_the_device_without_short_slices(int length, int rows, int computeUnits, int expected) =>
        Assert.Equal(expected, KernelRnnOps.Slices(length, rows, computeUnits));

    private static float[] Poisoned(int count) => Enumerable.Repeat(float.NaN, count).ToArray();
}
