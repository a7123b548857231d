using System.Globalization;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace GpuViT.Kernels.Generator;

// Register arrays: 'Span<float> acc = stackalloc float[16];' is a per-thread array of compile-time
// size (C 'float acc[16]'), and constant-bound loops over them are marked for unrolling, so that
// the C compilers keep the array in registers.
internal sealed partial class FunctionTranslator
{
    /// <summary>The most elements a register array may have: past a few hundred it lives in slow local memory anyway.</summary>
    public const int MaxRegisterArrayLength = 1024;

    private void RegisterArrayDeclaration(LocalDeclarationStatementSyntax declaration, VariableDeclaratorSyntax variable, ILocalSymbol local)
    {
        ExpressionSyntax value = variable.Initializer!.Value;
        string? element = KernelTypes.RegisterArray(local.Type);
        if (element is null)
        {
            Report(Diagnostics.RegisterArray, variable, "'" + Show(variable) + "' must be a Span<float>, Span<int> or Span<uint> local, not " + local.Type.ToDisplayString());
            return;
        }

        if (value is not StackAllocArrayCreationExpressionSyntax { Initializer: null, Type: ArrayTypeSyntax array }
            || array.RankSpecifiers.Count != 1 || array.RankSpecifiers[0].Sizes.Count != 1)
        {
            Report(Diagnostics.RegisterArray, value, "'" + Show(value) + "' has an initializer or no size (write 'stackalloc " + element + "[N]'; its elements start at 0)");
            return;
        }

        ExpressionSyntax size = array.RankSpecifiers[0].Sizes[0];
        Optional<object?> length = _model.GetConstantValue(size);
        if (!length.HasValue || length.Value is not int count || count < 1 || count > MaxRegisterArrayLength)
        {
            Report(Diagnostics.RegisterArray, size, "size '" + Show(size) + "' is not a compile-time constant from 1 to " + MaxRegisterArrayLength.ToString(CultureInfo.InvariantCulture));
            return;
        }

        if (declaration.IsConst)
        {
            Report(Diagnostics.RegisterArray, declaration, "cannot be const");
            return;
        }

        // C# zeroes stackalloc memory (this project has no SkipLocalsInit), so C starts at zero
        // too and the emulator stays exact; compilers drop the stores a kernel overwrites.
        string name = KernelTypes.CName(local.Name);
        string lengthText = Constant(count, null, size, size is LiteralExpressionSyntax ? null : size.ToString());
        Line(_dialect.Scalar(element) + " " + name + "[" + lengthText + "] = { 0 };");
    }

    /// <summary>
    /// Whether to mark a loop '#pragma unroll': 'for (int i = A; i &lt; B; i++)' (or &lt;=, &gt;,
    /// &gt;=, --, += C, -= C) with A, B and C compile-time constants, i not assigned in the body, and
    /// i used to index a register array (directly, or as an argument beside one in a call), which
    /// only stays in registers when every index is a constant after unrolling. Other constant
    /// loops are left to the compilers: unrolled by force, a 16-deep k-slice loop around a 4×4
    /// micro-tile made the register-blocked GEMM 4× slower on PoCL.
    /// </summary>
    private bool ShouldUnroll(ForStatementSyntax statement)
    {
        if (statement.Declaration is not { Variables.Count: 1 } declaration
            || declaration.Variables[0].Initializer is not { } initializer
            || !_model.GetConstantValue(initializer.Value).HasValue
            || _model.GetDeclaredSymbol(declaration.Variables[0]) is not ILocalSymbol counter
            || statement.Condition is not BinaryExpressionSyntax condition
            || condition.Kind() is not (SyntaxKind.LessThanExpression or SyntaxKind.LessThanOrEqualExpression
                or SyntaxKind.GreaterThanExpression or SyntaxKind.GreaterThanOrEqualExpression)
            || !IsLocal(condition.Left, counter)
            || !_model.GetConstantValue(condition.Right).HasValue
            || statement.Incrementors.Count != 1)
        {
            return false;
        }

        bool constantStep = statement.Incrementors[0] switch
        {
            PostfixUnaryExpressionSyntax postfix => IsLocal(postfix.Operand, counter),
            PrefixUnaryExpressionSyntax prefix => IsLocal(prefix.Operand, counter),
            AssignmentExpressionSyntax step when step.Kind() is SyntaxKind.AddAssignmentExpression or SyntaxKind.SubtractAssignmentExpression
                => IsLocal(step.Left, counter) && _model.GetConstantValue(step.Right).HasValue,
            _ => false,
        };
        return constantStep && !AssignsTo(statement.Statement, counter) && IndexesRegisterArray(statement.Statement, counter);
    }

    /// <summary>Whether the body indexes a register array with an expression of the counter, or passes both to a call.</summary>
    private bool IndexesRegisterArray(StatementSyntax body, ILocalSymbol counter)
    {
        foreach (SyntaxNode node in body.DescendantNodes())
        {
            bool uses = node switch
            {
                ElementAccessExpressionSyntax element => IsRegisterArray(element.Expression) && Mentions(element.ArgumentList, counter),
                InvocationExpressionSyntax call => call.ArgumentList.Arguments.Any(a => IsRegisterArray(a.Expression)) && Mentions(call.ArgumentList, counter),
                _ => false,
            };
            if (uses)
            {
                return true;
            }
        }

        return false;
    }

    private bool IsRegisterArray(ExpressionSyntax expression) => KernelTypes.RegisterArray(_model.GetTypeInfo(expression).Type) is not null;

    private bool Mentions(SyntaxNode node, ILocalSymbol local) =>
        node.DescendantNodes().OfType<IdentifierNameSyntax>().Any(name => IsLocal(name, local));

    private bool IsLocal(ExpressionSyntax expression, ILocalSymbol local) =>
        expression is IdentifierNameSyntax && SymbolEqualityComparer.Default.Equals(_model.GetSymbolInfo(expression).Symbol, local);

    private bool AssignsTo(StatementSyntax body, ILocalSymbol local)
    {
        foreach (SyntaxNode node in body.DescendantNodes())
        {
            ExpressionSyntax? target = node switch
            {
                AssignmentExpressionSyntax assignment => assignment.Left,
                PostfixUnaryExpressionSyntax postfix => postfix.Operand,
                PrefixUnaryExpressionSyntax prefix when prefix.Kind() is SyntaxKind.PreIncrementExpression or SyntaxKind.PreDecrementExpression => prefix.Operand,
                _ => null,
            };
            if (target is not null && IsLocal(target, local))
            {
                return true;
            }
        }

        return false;
    }
}
