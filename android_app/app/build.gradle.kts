// The Android app: BenchActivity and the runtime adapters around :core. Exact versions:
//   ExecuTorch: executorch-android-vulkan, the AAR with both the XNNPACK and the Vulkan backends,
//     at the version of the executorch wheel the harness exports .pte files with (pyproject.toml;
//     tests/test_android_app.py checks they agree). Maven has no 1.5.0; 1.5.1 is the release.
//   LiteRT: litert (the Interpreter API, XNNPACK, NNAPI delegate) and litert-gpu (GPU delegate).
import org.jetbrains.kotlin.gradle.dsl.JvmTarget

plugins {
    id("com.android.application")
    kotlin("android")
}

val executorchVersion = "1.5.1"
val litertVersion = "1.4.2"

android {
    namespace = "org.harnessbench.bench"
    compileSdk = 35

    defaultConfig {
        applicationId = "org.harnessbench.bench"
        minSdk = 29          // PowerManager.getCurrentThermalStatus; getThermalHeadroom needs 30 (checked)
        targetSdk = 35
        versionCode = 1      // device_runners/android/app_protocol.py APP_VERSION_CODE: bump both together
        versionName = "1.0"
        buildConfigField("String", "EXECUTORCH_VERSION", "\"$executorchVersion\"")
        ndk {
            abiFilters += listOf("arm64-v8a", "x86_64")
        }
    }

    buildFeatures {
        buildConfig = true
    }

    buildTypes {
        release {
            // Measured as users run it: release, not debuggable. Signed with the debug key so
            // `adb install` takes it without a keystore; this app is never published.
            isMinifyEnabled = false
            isDebuggable = false
            signingConfig = signingConfigs.getByName("debug")
        }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
}

// Bytecode for Java 17, compiled by whichever JDK 17 or later runs Gradle (Android Studio's bundled
// one included). jvmToolchain(17) instead would demand a JDK 17 installation and, with no toolchain
// resolver plugin, fail where only another JDK exists. compilerOptions on the android extension:
// Kotlin Gradle plugin 2.1+ (KotlinAndroidExtension).
kotlin {
    compilerOptions {
        jvmTarget.set(JvmTarget.JVM_17)
    }
}

dependencies {
    implementation(project(":core"))
    implementation("org.pytorch:executorch-android-vulkan:$executorchVersion")
    implementation("com.google.ai.edge.litert:litert:$litertVersion")
    implementation("com.google.ai.edge.litert:litert-gpu:$litertVersion")
    implementation("com.google.ai.edge.litert:litert-gpu-api:$litertVersion")
}
