using System.Diagnostics;
using System.Globalization;
using System.IO.Compression;
using System.Text;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using GpuViT.Models.Images;
using GpuViT.Models.Vit;

namespace GpuViT.Tests.Packaging;

/// <summary>
/// The packages as a user gets them. The suite's slowest class: one to three minutes, nearly all of
/// it in <see cref="PackedFeed"/>'s `dotnet pack` (a clean Release build of every project) and
/// `dotnet build` of the consumers; the tests themselves take seconds. They need the .NET SDK and
/// the sources, so a GPU machine's bundle leaves this class out (gpu/check.sh), as it does BuildFailureTests.
/// </summary>
public sealed class PackagingTests(PackagingTests.PackedFeed feed) : IClassFixture<PackagingTests.PackedFeed>
{
    [Fact]
    public void Packages_hold_readme_license_xml_docs_and_the_generator_and_depend_only_on_each_other()
    {
        string kernels = feed.Package("GpuViT.Kernels"), models = feed.Package("GpuViT.Models"), tool = feed.Package("GpuViT.Tool");
        foreach (string package in new[] { kernels, models, tool })
        {
            XElement metadata = Nuspec(package);
            Assert.Equal(feed.Version, Value(metadata, "version"));
            Assert.Equal("GpuViT authors", Value(metadata, "authors"));
            Assert.Equal("MIT", Value(metadata, "license"));
            Assert.Equal("README.md", Value(metadata, "readme"));
            Assert.DoesNotContain("Package Description", Value(metadata, "description"));
            Assert.Contains("README.md", Entries(package));
            Assert.Contains("LICENSE", Entries(package));
        }

        Assert.Superset(new HashSet<string> { "lib/net10.0/GpuViT.Kernels.dll", "lib/net10.0/GpuViT.Kernels.xml", "analyzers/dotnet/cs/GpuViT.Kernels.Generator.dll" }, Entries(kernels));
        Assert.Superset(new HashSet<string> { "lib/net10.0/GpuViT.Models.dll", "lib/net10.0/GpuViT.Models.xml" }, Entries(models));
        Assert.Contains("<member name=\"T:GpuViT.Kernels.Runtime.Devices\">", Text(kernels, "lib/net10.0/GpuViT.Kernels.xml"));
        Assert.Contains("<member name=\"T:GpuViT.Models.Vit.Classification\">", Text(models, "lib/net10.0/GpuViT.Models.xml"));

        // The generator travels inside GpuViT.Kernels, never as a package of its own.
        Assert.Empty(Dependencies(kernels));
        Assert.Equal(new[] { ("GpuViT.Kernels", feed.Version) }, Dependencies(models));
        // A tool carries its dependencies inside it: gpuvit and both libraries.
        Assert.Empty(Dependencies(tool));
        Assert.Superset(new HashSet<string> { "tools/net10.0/any/gpuvit.dll", "tools/net10.0/any/GpuViT.Models.dll", "tools/net10.0/any/GpuViT.Kernels.dll" }, Entries(tool));
        Assert.Equal("DotnetTool", Nuspec(tool).Descendants().Single(e => e.Name.LocalName == "packageType").Attribute("name")?.Value);
    }

    [Fact]
    public void Sample_built_from_the_feed_classifies_images_on_cpu_as_the_library_does_in_process()
    {
        using var temp = new TempDirectory("gpuvit-sample-run-");
        VitConfig config = VitPresets.VitTestTiny;
        string weights = temp.PathOf("tiny.safetensors");
        VitWeightFiles.Save(weights, config, VitWeights.RandomInit(config, seed: 3));
        string[] images = [temp.Write("a.ppm", Ppm(40, 30, seed: 1)), temp.Write("b.ppm", Ppm(33, 47, seed: 2))];

        (int exit, string output) = Run("dotnet", [feed.SampleDll, weights, .. images, "--device", "cpu"], temp.Path, feed.Environment);

        Assert.True(exit == 0, output);
        // What the sample should print, computed here by the library the tests were built with.
        LoadedVit vit = VitWeightFiles.Load(weights);
        using Device device = Devices.Open("cpu").Device;
        using VitModel model = VitModel.Load(device, vit.Config, vit.Weights);
        ImageSource source = ImageSource.Open(images, transform: PreprocessResolution.Resolve(vit, weights, new PreprocessHints()).Transform);
        string[] lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        for (int i = 0; i < images.Length; i++)
        {
            ClassScore[] expected = Classification.TopK(model.Forward(source.Decode(i, config.ImageSize), 1), 5);
            int at = Array.IndexOf(lines, images[i]);
            Assert.True(at >= 0, $"{images[i]} is not named in:\n{output}");
            for (int k = 0; k < 5; k++)
            {
                Match printed = Regex.Match(lines[at + 1 + k], @"^\s+([0-9.]+) ?%\s+class (\d+)$");
                Assert.True(printed.Success, $"line {at + 2 + k} is not 'P % class N':\n{output}");
                Assert.Equal(expected[k].Index, int.Parse(printed.Groups[2].Value, CultureInfo.InvariantCulture));
                Assert.Equal(100 * expected[k].Probability, double.Parse(printed.Groups[1].Value, CultureInfo.InvariantCulture), 0.006);
            }
        }
    }

    [Fact]
    public void A_users_own_kernel_is_compiled_by_the_packaged_generator_and_runs()
    {
        (int exit, string output) = Run("dotnet", [feed.UserKernelsDll], feed.Root, feed.Environment);

        Assert.True(exit == 0, output);
        Assert.Contains("2,4,6", output); // run on the emulator from the catalog the generator made
        Assert.Contains("extern \"C\" __global__ void TwiceEach(", output);
        Assert.Contains("__kernel void TwiceEach(", output);
    }

    [Fact]
    public void Tool_installs_from_the_feed_and_runs()
    {
        string tools = Path.Combine(feed.Root, "tools");
        (int exit, string output) = Run("dotnet", ["tool", "install", "GpuViT.Tool", "--version", feed.Version, "--tool-path", tools,
            "--configfile", feed.NuGetConfig], feed.Root, feed.Environment);
        Assert.True(exit == 0, output);

        string gpuvit = Path.Combine(tools, "gpuvit");
        (exit, output) = Run(gpuvit, ["--version"], feed.Root, feed.Environment);
        Assert.True(exit == 0, output);
        Assert.StartsWith(feed.Version, output.Trim());

        (exit, output) = Run(gpuvit, ["kernels", "GemmRegisterBlocked", "--dialect", "cuda"], feed.Root, feed.Environment);
        Assert.True(exit == 0, output);
        Assert.Contains("extern \"C\" __global__ void GemmRegisterBlocked(", output);
    }

    /// <summary>
    /// Packs the three packages from a copy of the sources (so that neither this checkout's bin/obj
    /// nor a build running beside it is touched) into a local feed, at a version no cache can hold
    /// (this repository's, with a unique suffix); then builds, against that feed and with an empty
    /// NuGet cache of their own, the sample (samples/Classify, as it is) and a user's project that
    /// declares a kernel. Restores see the feed and the machine's usual sources.
    /// </summary>
    public sealed class PackedFeed : IDisposable
    {
        private readonly TempDirectory _temp = new("gpuvit-packaging-");

        public PackedFeed()
        {
            string repository = RepositoryRoot();
            string version = Regex.Match(File.ReadAllText(Path.Combine(repository, "Directory.Build.props")), "<GpuViTVersion>([^<]+)</GpuViTVersion>").Groups[1].Value;
            Version = $"{version}-test.t{Guid.NewGuid().ToString("N")[..8]}";

            string sources = Path.Combine(Root, "repo");
            foreach (string file in new[] { "Directory.Build.props", "LICENSE" })
            {
                File.Copy(Path.Combine(repository, file), Path.Combine(sources, file).CreateParent());
            }

            CopySources(Path.Combine(repository, "src"), Path.Combine(sources, "src"));
            string versionProperty = $"-p:GpuViTVersion={Version}";
            string quiet = "--nologo -v quiet --disable-build-servers -nodeReuse:false";
            // The tool's pack builds all three in Release; the libraries then pack what it built.
            Dotnet($"pack src/Host/GpuViT.Host.csproj -c Release -o \"{Feed}\" {versionProperty} {quiet}", sources, environment: null);
            foreach (string library in new[] { "src/Models/GpuViT.Models.csproj", "src/Kernels/GpuViT.Kernels.csproj" })
            {
                Dotnet($"pack {library} -c Release --no-build -o \"{Feed}\" {versionProperty} {quiet}", sources, environment: null);
            }

            // The consumers: a NuGet cache of their own, so a package from an earlier run cannot stand in.
            Environment = new Dictionary<string, string> { ["NUGET_PACKAGES"] = Path.Combine(Root, "nuget-packages") };
            string consumers = Path.Combine(Root, "consumers");
            foreach (string file in new[] { "Classify.csproj", "Program.cs" })
            {
                File.Copy(Path.Combine(repository, "samples", "Classify", file), Path.Combine(consumers, "Classify", file).CreateParent());
            }

            File.WriteAllText(Path.Combine(consumers, "UserKernels", "UserKernels.csproj").CreateParent(), $"""
                <Project Sdk="Microsoft.NET.Sdk">
                  <PropertyGroup>
                    <OutputType>Exe</OutputType>
                    <TargetFramework>net10.0</TargetFramework>
                    <ImplicitUsings>enable</ImplicitUsings>
                    <Nullable>enable</Nullable>
                    <TreatWarningsAsErrors>true</TreatWarningsAsErrors>
                  </PropertyGroup>
                  <ItemGroup>
                    <PackageReference Include="GpuViT.Kernels" Version="{Version}" />
                  </ItemGroup>
                </Project>
                """);
            File.WriteAllText(Path.Combine(consumers, "UserKernels", "Program.cs"), """
                using GpuViT.Kernels;
                using GpuViT.Kernels.Runtime;
                using UserKernels.Generated;

                using Device device = Devices.Open("emulator").Device;
                using DeviceBuffer<float> x = device.Upload<float>([1, 2, 3]);
                using DeviceBuffer<float> y = device.Allocate<float>(3);
                device.Launch(KernelCatalog.TwiceEach, Int3.Size(1), Int3.Size(4), x, y, 3);
                Console.WriteLine(string.Join(",", y.ToArray()));
                Console.WriteLine(KernelCatalog.TwiceEach.CudaSource);
                Console.WriteLine(KernelCatalog.TwiceEach.OpenCLSource);

                public static class UserOps
                {
                    [Kernel]
                    public static void TwiceEach(KernelThread thread, ReadOnlyView<float> x, ReadWriteView<float> y, int n)
                    {
                        int i = thread.Global.X;
                        if (i < n)
                        {
                            y[i] = 2f * x[i];
                        }
                    }
                }
                """);
            File.WriteAllText(Path.Combine(consumers, "Consumers.slnx"), """
                <Solution>
                  <Project Path="Classify/Classify.csproj" />
                  <Project Path="UserKernels/UserKernels.csproj" />
                </Solution>
                """);
            File.WriteAllText(NuGetConfig, $"""
                <?xml version="1.0" encoding="utf-8"?>
                <configuration>
                  <packageSources>
                    <add key="gpuvit-test-feed" value="{Feed}" />
                  </packageSources>
                </configuration>
                """);
            Dotnet($"build Consumers.slnx -c Release {versionProperty} {quiet}", consumers, Environment);
            SampleDll = Path.Combine(consumers, "Classify", "bin", "Release", "net10.0", "Classify.dll");
            UserKernelsDll = Path.Combine(consumers, "UserKernels", "bin", "Release", "net10.0", "UserKernels.dll");
        }

        public string Root => _temp.Path;

        public string Version { get; }

        public string Feed => Path.Combine(Root, "feed");

        /// <summary>The feed and, as NuGet adds them, the machine's usual sources; above every project here, so each restore reads it.</summary>
        public string NuGetConfig => Path.Combine(Root, "nuget.config");

        /// <summary>For every process that restores or runs what was restored: the consumers' own NuGet cache.</summary>
        public IReadOnlyDictionary<string, string> Environment { get; }

        public string SampleDll { get; }

        public string UserKernelsDll { get; }

        public string Package(string id) => Path.Combine(Feed, $"{id}.{Version}.nupkg");

        public void Dispose() => _temp.Dispose();

        private static void Dotnet(string arguments, string directory, IReadOnlyDictionary<string, string>? environment)
        {
            (int exit, string output) = Run("dotnet", [.. SplitArguments(arguments)], directory, environment);
            Assert.True(exit == 0, $"dotnet {arguments} failed ({exit}):\n{output}");
        }

        private static IEnumerable<string> SplitArguments(string arguments) =>
            Regex.Matches(arguments, "\"([^\"]*)\"|(\\S+)").Select(m => m.Groups[1].Success ? m.Groups[1].Value : m.Groups[2].Value);

        /// <summary>The checkout the tests were built from: the first directory up from them that holds GpuViT.sln.</summary>
        private static string RepositoryRoot()
        {
            for (DirectoryInfo? directory = new(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
            {
                if (File.Exists(Path.Combine(directory.FullName, "GpuViT.sln")))
                {
                    return directory.FullName;
                }
            }

            throw new InvalidOperationException($"no GpuViT.sln above {AppContext.BaseDirectory}: the packaging tests need the sources and the .NET SDK");
        }

        /// <summary>Copies a source tree without its build outputs (bin, obj).</summary>
        private static void CopySources(string from, string to)
        {
            Directory.CreateDirectory(to);
            foreach (string file in Directory.EnumerateFiles(from))
            {
                File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
            }

            foreach (string directory in Directory.EnumerateDirectories(from))
            {
                string name = Path.GetFileName(directory);
                if (name is not ("bin" or "obj"))
                {
                    CopySources(directory, Path.Combine(to, name));
                }
            }
        }
    }

    private static XElement Nuspec(string package)
    {
        using ZipArchive zip = ZipFile.OpenRead(package);
        using Stream nuspec = zip.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal)).Open();
        return XDocument.Load(nuspec).Root!.Elements().Single(e => e.Name.LocalName == "metadata");
    }

    private static string Value(XElement metadata, string name) => metadata.Elements().Single(e => e.Name.LocalName == name).Value;

    /// <summary>(id, version) of every dependency, in any group.</summary>
    private static (string Id, string Version)[] Dependencies(string package) =>
        [.. Nuspec(package).Descendants().Where(e => e.Name.LocalName == "dependency")
            .Select(e => (e.Attribute("id")!.Value, e.Attribute("version")!.Value))];

    private static HashSet<string> Entries(string package)
    {
        using ZipArchive zip = ZipFile.OpenRead(package);
        return [.. zip.Entries.Select(e => e.FullName)];
    }

    private static string Text(string package, string entry)
    {
        using ZipArchive zip = ZipFile.OpenRead(package);
        using var reader = new StreamReader(zip.GetEntry(entry)!.Open());
        return reader.ReadToEnd();
    }

    /// <summary>A binary PPM of random pixels.</summary>
    private static byte[] Ppm(int width, int height, int seed)
    {
        var pixels = new byte[width * height * 3];
        new Random(seed).NextBytes(pixels);
        return [.. Encoding.ASCII.GetBytes($"P6 {width} {height} 255\n"), .. pixels];
    }

    /// <summary>Runs a program to its end (at most 5 minutes); its exit code and stdout then stderr.</summary>
    private static (int Exit, string Output) Run(string program, string[] arguments, string directory, IReadOnlyDictionary<string, string>? environment)
    {
        var start = new ProcessStartInfo(program)
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        // The sample prints percentages; the invariant culture writes them one way everywhere.
        start.Environment["DOTNET_SYSTEM_GLOBALIZATION_INVARIANT"] = "1";
        foreach ((string name, string value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }

        using Process process = Process.Start(start)!;
        Task<string> error = process.StandardError.ReadToEndAsync();
        string output = process.StandardOutput.ReadToEnd();
        if (!process.WaitForExit(TimeSpan.FromMinutes(5)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{program} {string.Join(' ', arguments)} did not finish in 5 minutes");
        }

        return (process.ExitCode, output + error.Result);
    }
}

internal static class PathExtensions
{
    /// <summary>Creates the directory the path is in; returns the path.</summary>
    public static string CreateParent(this string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        return path;
    }
}
