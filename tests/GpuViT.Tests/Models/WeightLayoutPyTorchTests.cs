using GpuViT.Host;
using GpuViT.Models.Images;
using GpuViT.Models.Vit;
using GpuViT.Tests.Runtime;

namespace GpuViT.Tests.Models;

/// <summary>
/// The PyTorch fixtures (tests/fixtures, made by make_vit_fixtures.py from torchvision's
/// VisionTransformer) loaded through <see cref="VitWeightFiles"/> in each of the three layouts,
/// with the config inferred from the file, and through `gpuvit run`: logits match PyTorch's
/// within the bound, max |error| ≤ 1e-4 × max |logit|.
/// </summary>
public sealed class WeightLayoutPyTorchTests
{
    private static readonly string Fixtures = Path.Combine(AppContext.BaseDirectory, "fixtures");

    // torchvision's files carry no metadata: the heads come as a hint, as --heads would give them.
    private static readonly Dictionary<string, int> Heads = new() { ["vit_fixture_tiny"] = 2, ["vit_fixture_odd"] = 3 };

    private static string WeightsPath(string name, string layout) => layout switch
    {
        "timm" => Path.Combine(Fixtures, name + ".timm.safetensors"),
        "torchvision" => Path.Combine(Fixtures, name + ".torchvision.safetensors"),
        _ => Path.Combine(Fixtures, name + ".huggingface", "model.safetensors"),
    };

    /// <summary>The bound: every |GpuViT − PyTorch| ≤ 1e-4 × max |PyTorch logit|.</summary>
    private static void AssertMatchesPyTorch(float[] expected, float[] actual) =>
        Close.Elementwise(expected, actual, relative: 0, absolute: 1e-4f * expected.Max(MathF.Abs), "logits (PyTorch expected, GpuViT got)");

    public static TheoryData<string, string, WeightLayout, string> Cases()
    {
        var data = new TheoryData<string, string, WeightLayout, string>();
        (string Layout, WeightLayout Expected)[] layouts = [("timm", WeightLayout.Timm), ("torchvision", WeightLayout.TorchVision), ("huggingface", WeightLayout.HuggingFace)];
        foreach ((string layout, WeightLayout expected) in layouts)
        {
            foreach (string name in new[] { "vit_fixture_tiny", "vit_fixture_odd" })
            {
                data.Add(name, layout, expected, "cpu");
                foreach (string backend in TestBackends.KernelDevices)
                {
                    data.Add(name, layout, expected, backend);
                }
            }

            // The emulator runs the kernels' C# bodies: the tiny model only.
            data.Add("vit_fixture_tiny", layout, expected, "emulator");
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Each_layout_loads_and_matches_PyTorch(string name, string layout, WeightLayout expectedLayout, string backend)
    {
        VitConfigHints? hints = layout == "torchvision" ? new VitConfigHints(Heads: Heads[name]) : null;
        LoadedVit vit = VitWeightFiles.Load(WeightsPath(name, layout), hints: hints);
        NpyArray input = NpyFile.ReadFloat32(Path.Combine(Fixtures, name + ".input.npy"));
        float[] expected = NpyFile.ReadFloat32(Path.Combine(Fixtures, name + ".logits.npy")).Data;

        using Device device = TestBackends.Open(backend);
        using VitModel model = VitModel.Load(device, vit.Config, vit.Weights);

        Assert.Equal(expectedLayout, vit.Layout);
        Assert.Equal(Heads[name], vit.Config.Heads);
        Assert.Equal(1e-6f, vit.Config.LayerNormEps);
        AssertMatchesPyTorch(expected, model.Forward(input.Data, input.Shape[0]));
    }

    [Fact]
    public void Gpuvit_run_on_the_hugging_face_fixture_saves_PyTorchs_logits()
    {
        string name = "vit_fixture_odd";
        string logitsPath = Path.Combine(Path.GetTempPath(), $"gpuvit-run-fixture-{Guid.NewGuid():N}.npy");
        try
        {
            var output = new StringWriter { NewLine = "\n" };
            var error = new StringWriter { NewLine = "\n" };
            int exit = Cli.Run(
                ["run", "--weights", WeightsPath(name, "huggingface"), "--input", Path.Combine(Fixtures, name + ".input.npy"),
                 "--batch", "3", "--top", "1", "--save-logits", logitsPath, "--device", "cpu"],
                output, error);

            Assert.True(exit == 0, error.ToString());
            Assert.Contains(" class_", output.ToString()); // names from config.json's id2label
            AssertMatchesPyTorch(NpyFile.ReadFloat32(Path.Combine(Fixtures, name + ".logits.npy")).Data, NpyFile.ReadFloat32(logitsPath).Data);
        }
        finally
        {
            File.Delete(logitsPath);
        }
    }
}
